//! Devices, streams and the choice of where an op runs.
//!
//! Every op in [`crate::ops`] comes in two forms: `op(..)` runs on the current
//! default stream, `op_on(.., on)` runs on a chosen [`Stream`] or [`Device`].
//! The default stream is the innermost [`with_stream`]/[`with_device`] scope on
//! this thread, else MLX's default stream of the default device.

use std::cell::RefCell;

use crate::ffi::{mlx_call, mlx_value};
use crate::handles::string_from;
use crate::Result;

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
    raw: mlx_sys::mlx_device,
}

// SAFETY: an mlx_device is an immutable (type, index) pair behind a pointer
// owned by this value alone; reading it from any thread is fine.
unsafe impl Send for Device {}
// SAFETY: no method mutates the handle through `&self`.
unsafe impl Sync for Device {}

impl Device {
    /// A device of the given type and index.
    pub fn new(kind: DeviceType, index: i32) -> Device {
        // SAFETY: constructing a device handle has no preconditions.
        Device {
            raw: unsafe { mlx_sys::mlx_device_new_type(kind.to_raw(), index) },
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
        mlx_call!(mlx_get_default_device(&mut dev.raw))?;
        Ok(dev)
    }

    /// Makes this the process-wide default device.
    #[track_caller]
    pub fn set_default(&self) -> Result<()> {
        mlx_call!(mlx_set_default_device(self.raw))
    }

    /// Whether MLX can run ops on this device in this process.
    #[track_caller]
    pub fn is_available(&self) -> bool {
        let mut avail = false;
        mlx_call!(mlx_device_is_available(&mut avail, self.raw)).is_ok() && avail
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
        // A live handle always has a type; the call cannot fail.
        let _ = mlx_call!(mlx_device_get_type(&mut t, self.raw));
        if t == mlx_sys::MLX_GPU {
            DeviceType::Gpu
        } else {
            DeviceType::Cpu
        }
    }

    /// The device's index among devices of its type.
    pub fn index(&self) -> i32 {
        let mut i = 0;
        let _ = mlx_call!(mlx_device_get_index(&mut i, self.raw));
        i
    }

    /// MLX's default stream on this device.
    #[track_caller]
    pub fn default_stream(&self) -> Result<Stream> {
        let mut s = Stream::empty();
        mlx_call!(mlx_get_default_stream(&mut s.raw, self.raw))?;
        Ok(s)
    }

    /// The raw handle, borrowed.
    pub fn as_raw(&self) -> mlx_sys::mlx_device {
        self.raw
    }
}

impl Clone for Device {
    fn clone(&self) -> Self {
        Device::new(self.device_type(), self.index())
    }
}

impl PartialEq for Device {
    fn eq(&self, other: &Self) -> bool {
        mlx_value!(mlx_device_equal(self.raw, other.raw)).unwrap_or(false)
    }
}

impl Drop for Device {
    fn drop(&mut self) {
        let _lock = crate::ffi::lock();
        // SAFETY: this value owns the handle.
        unsafe { mlx_sys::mlx_device_free(self.raw) };
    }
}

impl std::fmt::Debug for Device {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match string_from(|s| mlx_call!(mlx_device_tostring(s, self.raw))) {
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
/// Streams are thread-affine in MLX (CPU streams too, in MLX 0.32.2):
/// evaluate work of a stream on the thread that created it (see the crate
/// docs on threads).
pub struct Stream {
    raw: mlx_sys::mlx_stream,
}

// SAFETY: the handle points to an immutable (device, index) description owned
// by this value alone; moving it to another thread moves only that.
unsafe impl Send for Stream {}

impl Stream {
    fn empty() -> Stream {
        // SAFETY: creating an empty handle has no preconditions.
        Stream {
            raw: unsafe { mlx_sys::mlx_stream_new() },
        }
    }

    /// A new stream on `device`.
    #[track_caller]
    pub fn new(device: &Device) -> Result<Stream> {
        let raw = mlx_value!(mlx_stream_new_device(device.raw))?;
        Ok(Stream { raw })
    }

    /// The stream ops use when none is given (see the module docs).
    #[track_caller]
    pub fn current() -> Result<Stream> {
        if let Some(s) = SCOPED.with(|stack| stack.borrow().last().map(|s| s.shallow_clone())) {
            return s;
        }
        Device::default_device()?.default_stream()
    }

    /// The device this stream runs on.
    #[track_caller]
    pub fn device(&self) -> Result<Device> {
        let mut dev = Device::cpu();
        mlx_call!(mlx_stream_get_device(&mut dev.raw, self.raw))?;
        Ok(dev)
    }

    /// Waits until all work queued on this stream has finished.
    #[track_caller]
    pub fn synchronize(&self) -> Result<()> {
        let _guard = crate::ffi::lock();
        mlx_call!(mlx_synchronize(self.raw))
    }

    /// The raw handle, borrowed.
    pub fn as_raw(&self) -> mlx_sys::mlx_stream {
        self.raw
    }

    #[track_caller]
    fn shallow_clone(&self) -> Result<Stream> {
        let mut s = Stream::empty();
        mlx_call!(mlx_stream_set(&mut s.raw, self.raw))?;
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
        mlx_value!(mlx_stream_equal(self.raw, other.raw)).unwrap_or(false)
    }
}

impl Drop for Stream {
    fn drop(&mut self) {
        let _lock = crate::ffi::lock();
        // SAFETY: this value owns the handle.
        unsafe { mlx_sys::mlx_stream_free(self.raw) };
    }
}

impl std::fmt::Debug for Stream {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match string_from(|s| mlx_call!(mlx_stream_tostring(s, self.raw))) {
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
