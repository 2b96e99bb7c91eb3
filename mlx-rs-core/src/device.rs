//! Devices, streams and the choice of where an op runs.
//!
//! Every op in [`crate::ops`] comes in two forms: `op(..)` runs on the current
//! default stream, `op_on(.., on)` runs on a chosen [`Stream`] or [`Device`].
//! The default stream is the innermost [`with_stream`]/[`with_device`] scope on
//! this thread, else MLX's default stream of the default device.

use std::cell::RefCell;
use std::marker::PhantomData;
use std::sync::atomic::{AtomicU64, Ordering};

use crate::ffi::{check_unlocked, mlx_call, mlx_value};
use crate::handles::{string_from, Owned};
use crate::{Error, Result};

/// The kind of a [`Device`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum DeviceType {
    /// The CPU.
    Cpu,
    /// A GPU: Metal on Apple silicon, CUDA on NVIDIA.
    Gpu,
}

impl DeviceType {
    fn to_raw(self) -> mlx_sys::mlx_device_type {
        match self {
            DeviceType::Cpu => mlx_sys::MLX_CPU,
            DeviceType::Gpu => mlx_sys::MLX_GPU,
        }
    }
}

/// A compute device (owns an `mlx_device` handle).
pub struct Device {
    raw: Owned<mlx_sys::mlx_device>,
}

// SAFETY: an mlx_device is an immutable (type, index) pair behind a pointer
// owned by this value alone; reading it from any thread is fine.
unsafe impl Send for Device {}
// SAFETY: no method mutates the handle through `&self`.
unsafe impl Sync for Device {}

impl Device {
    /// A device of the given type and index.
    pub fn new(kind: DeviceType, index: i32) -> Device {
        // SAFETY: constructing a device handle has no preconditions; the
        // new handle is owned by this value alone.
        Device {
            raw: unsafe { Owned::new(mlx_sys::mlx_device_new_type(kind.to_raw(), index)) },
        }
    }
    /// The CPU.
    pub fn cpu() -> Device {
        Device::new(DeviceType::Cpu, 0)
    }
    /// The first GPU (Metal or CUDA). Ops on it fail with `Err` where MLX has
    /// no GPU backend; check [`Device::is_available`].
    pub fn gpu() -> Device {
        Device::new(DeviceType::Gpu, 0)
    }

    /// MLX's current default device.
    #[track_caller]
    pub fn default_device() -> Result<Device> {
        let mut dev = Device::cpu();
        mlx_call!(mlx_get_default_device(dev.raw.as_mut_ptr()))?;
        Ok(dev)
    }

    /// Makes this the process-wide default device.
    ///
    /// Waits until no thread is evaluating: MLX reads the default device
    /// during evaluation without synchronization.
    #[track_caller]
    pub fn set_default(&self) -> Result<()> {
        let raw = self.raw.get();
        crate::ffi::exclusive(|| {
            DEFAULT_GENERATION.fetch_add(1, Ordering::SeqCst);
            mlx_call!(mlx_set_default_device(raw))
        })
    }

    /// Whether MLX can run ops on this device in this process.
    #[track_caller]
    pub fn is_available(&self) -> bool {
        let mut avail = false;
        mlx_call!(mlx_device_is_available(&mut avail, self.raw.get())).is_ok() && avail
    }

    /// How many devices of this kind MLX sees.
    #[track_caller]
    pub fn count(kind: DeviceType) -> Result<i32> {
        let mut n = 0;
        mlx_call!(mlx_device_count(&mut n, kind.to_raw()))?;
        Ok(n)
    }

    /// The device's type.
    pub fn device_type(&self) -> DeviceType {
        let mut t = mlx_sys::MLX_CPU;
        let raw = self.raw.get();
        // A live handle always has a type; the call reads only the handle.
        // SAFETY: `raw` is live; `t` is a local out-slot.
        let _ = check_unlocked(|| unsafe { mlx_sys::mlx_device_get_type(&mut t, raw) });
        if t == mlx_sys::MLX_GPU {
            DeviceType::Gpu
        } else {
            DeviceType::Cpu
        }
    }

    /// The device's index among devices of its type.
    pub fn index(&self) -> i32 {
        let mut i = 0;
        let raw = self.raw.get();
        // SAFETY: `raw` is live; `i` is a local out-slot. Reads only the handle.
        let _ = check_unlocked(|| unsafe { mlx_sys::mlx_device_get_index(&mut i, raw) });
        i
    }

    /// MLX's default stream on this device.
    #[track_caller]
    pub fn default_stream(&self) -> Result<Stream> {
        let mut s = Stream::empty();
        mlx_call!(mlx_get_default_stream(s.raw.as_mut_ptr(), self.raw.get()))?;
        Ok(s)
    }

    /// The raw handle, borrowed.
    pub fn as_raw(&self) -> mlx_sys::mlx_device {
        self.raw.get()
    }
}

impl Clone for Device {
    fn clone(&self) -> Self {
        Device::new(self.device_type(), self.index())
    }
}

impl PartialEq for Device {
    fn eq(&self, other: &Self) -> bool {
        mlx_value!(mlx_device_equal(self.raw.get(), other.raw.get())).unwrap_or(false)
    }
}

impl std::fmt::Debug for Device {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match string_from(|s| mlx_call!(mlx_device_tostring(s, self.raw.get()))) {
            Ok(text) => f.write_str(&text),
            Err(_) => write!(f, "Device({:?}, {})", self.device_type(), self.index()),
        }
    }
}

/// Whether this libmlx was built with the Metal backend and it is usable.
pub fn metal_is_available() -> bool {
    let mut avail = false;
    mlx_call!(mlx_metal_is_available(&mut avail)).is_ok() && avail
}

/// Whether this libmlx was built with the CUDA backend and a GPU is usable.
pub fn cuda_is_available() -> bool {
    let mut avail = false;
    mlx_call!(mlx_cuda_is_available(&mut avail)).is_ok() && avail
}

/// A queue of work on one device (owns an `mlx_stream` handle).
///
/// Neither `Send` nor `Sync`: MLX binds streams to the thread that created
/// them (CPU streams too, in MLX 0.32.2: each thread has its own table of
/// stream encoders), so a stream stays on its thread. A thread that needs a
/// queue makes its own ([`Stream::new`]) or uses its default one.
///
/// ```compile_fail
/// let s = mlx_rs_core::Stream::new(&mlx_rs_core::Device::cpu()).unwrap();
/// std::thread::spawn(move || drop(s)); // a Stream cannot leave its thread
/// ```
pub struct Stream {
    raw: Owned<mlx_sys::mlx_stream>,
    _thread_bound: PhantomData<*const ()>,
}

/// Bumped whenever the process-wide default device changes, so that each
/// thread's cached default stream (`DEFAULT_STREAM`) is looked up again.
static DEFAULT_GENERATION: AtomicU64 = AtomicU64::new(0);

thread_local! {
    /// This thread's default stream of the default device, and the
    /// generation it was looked up in: ops use it without asking MLX.
    static DEFAULT_STREAM: RefCell<Option<(u64, Stream)>> = const { RefCell::new(None) };
}

impl Stream {
    fn empty() -> Stream {
        // SAFETY: creating an empty handle has no preconditions; the handle
        // is owned by this value alone.
        Stream {
            raw: unsafe { Owned::new(mlx_sys::mlx_stream_new()) },
            _thread_bound: PhantomData,
        }
    }

    /// A new stream on `device`, bound to this thread.
    #[track_caller]
    pub fn new(device: &Device) -> Result<Stream> {
        let raw = mlx_value!(mlx_stream_new_device(device.raw.get()))?;
        if raw.ctx.is_null() {
            return Err(Error::invalid("MLX returned no stream"));
        }
        // SAFETY: a fresh handle that only this value owns.
        Ok(Stream {
            raw: unsafe { Owned::new(raw) },
            _thread_bound: PhantomData,
        })
    }

    /// The stream ops use when none is given (see the module docs).
    #[track_caller]
    pub fn current() -> Result<Stream> {
        let scoped = SCOPED
            .try_with(|stack| stack.borrow().last().map(|s| s.shallow_clone()))
            .ok()
            .flatten();
        if let Some(s) = scoped {
            return s;
        }
        let generation = DEFAULT_GENERATION.load(Ordering::SeqCst);
        let cached = DEFAULT_STREAM
            .try_with(|slot| match &*slot.borrow() {
                Some((g, s)) if *g == generation => Some(s.shallow_clone()),
                _ => None,
            })
            .ok()
            .flatten();
        if let Some(s) = cached {
            return s;
        }
        let s = Device::default_device()?.default_stream()?;
        let copy = s.shallow_clone()?;
        let _ = DEFAULT_STREAM.try_with(|slot| *slot.borrow_mut() = Some((generation, copy)));
        Ok(s)
    }

    /// The device this stream runs on.
    #[track_caller]
    pub fn device(&self) -> Result<Device> {
        let mut dev = Device::cpu();
        let (out, raw) = (dev.raw.as_mut_ptr(), self.raw.get());
        // SAFETY: `out` is a live device slot, `raw` a live stream; reads
        // only the handle.
        check_unlocked(|| unsafe { mlx_sys::mlx_stream_get_device(out, raw) })?;
        Ok(dev)
    }

    /// Waits until all work queued on this stream has finished.
    #[track_caller]
    pub fn synchronize(&self) -> Result<()> {
        let raw = self.raw.get();
        // Waiting, like evaluating, runs beside other threads' work.
        // SAFETY: `raw` is a live stream of this thread.
        crate::ffi::evaluating(false, || {
            check_unlocked(|| unsafe { mlx_sys::mlx_synchronize(raw) })
        })
    }

    /// The raw handle, borrowed.
    pub fn as_raw(&self) -> mlx_sys::mlx_stream {
        self.raw.get()
    }

    /// Another handle to the same stream.
    #[track_caller]
    fn shallow_clone(&self) -> Result<Stream> {
        let mut s = Stream::empty();
        let (out, raw) = (s.raw.as_mut_ptr(), self.raw.get());
        // Copies a (device, index) value between two handles.
        // SAFETY: `out` is a live empty slot, `raw` a live stream.
        check_unlocked(|| unsafe { mlx_sys::mlx_stream_set(out, raw) })?;
        Ok(s)
    }
}

impl Clone for Stream {
    fn clone(&self) -> Self {
        self.shallow_clone().expect("copying a live stream handle")
    }
}

impl PartialEq for Stream {
    fn eq(&self, other: &Self) -> bool {
        mlx_value!(mlx_stream_equal(self.raw.get(), other.raw.get())).unwrap_or(false)
    }
}

impl std::fmt::Debug for Stream {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match string_from(|s| mlx_call!(mlx_stream_tostring(s, self.raw.get()))) {
            Ok(text) => f.write_str(&text),
            Err(_) => f.write_str("Stream(?)"),
        }
    }
}

/// Waits for all work on the default stream of the default device.
#[track_caller]
pub fn synchronize() -> Result<()> {
    Stream::current()?.synchronize()
}

thread_local! {
    static SCOPED: RefCell<Vec<Stream>> = const { RefCell::new(Vec::new()) };
}

/// Runs `f` with `stream` as this thread's default stream for ops.
///
/// The scope covers the ops called through this crate. Ops that MLX builds
/// internally (inside transforms such as `grad`, in IO) follow MLX's own
/// process-wide default device ([`Device::set_default`]) instead.
pub fn with_stream<R>(stream: &Stream, f: impl FnOnce() -> R) -> R {
    struct Pop;
    impl Drop for Pop {
        fn drop(&mut self) {
            SCOPED.with(|s| s.borrow_mut().pop());
        }
    }
    SCOPED.with(|s| s.borrow_mut().push(stream.clone()));
    let _pop = Pop;
    f()
}

/// Runs `f` with `device`'s default stream as this thread's default stream.
#[track_caller]
pub fn with_device<R>(device: &Device, f: impl FnOnce() -> R) -> Result<R> {
    let stream = device.default_stream()?;
    Ok(with_stream(&stream, f))
}

/// Where an `_on` op runs: a stream, a device (its default stream), or the
/// current default. `&Stream`, `&Device` and `Default` convert into it.
#[derive(Clone, Copy, Debug, Default)]
pub enum StreamOrDevice<'a> {
    /// The current default stream.
    #[default]
    Default,
    /// This stream.
    Stream(&'a Stream),
    /// The default stream of this device.
    Device(&'a Device),
}

impl StreamOrDevice<'_> {
    /// The concrete stream.
    #[track_caller]
    pub fn resolve(self) -> Result<Stream> {
        match self {
            StreamOrDevice::Default => Stream::current(),
            StreamOrDevice::Stream(s) => s.shallow_clone(),
            StreamOrDevice::Device(d) => d.default_stream(),
        }
    }
}

impl<'a> From<&'a Stream> for StreamOrDevice<'a> {
    fn from(s: &'a Stream) -> Self {
        StreamOrDevice::Stream(s)
    }
}

impl<'a> From<&'a Device> for StreamOrDevice<'a> {
    fn from(d: &'a Device) -> Self {
        StreamOrDevice::Device(d)
    }
}
