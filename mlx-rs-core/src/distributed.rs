//! Distributed communication through MLX's own backends: the TCP **ring**
//! (any machine, CPU arrays), **NCCL** (NVIDIA GPUs) and **MPI**.
//!
//! A job is N processes of one program. Each calls [`Group::init`], which
//! reads the job's environment (set by the `mlx-launch` program, see
//! `docs/distributed.md`), and then uses the collectives of this module.
//! Collectives are lazy ops like any other: they build a graph node and
//! communicate when the result is evaluated, on every rank in the same order.
//!
//! ```
//! use mlx_rs_core::distributed::{self, Backend, Group};
//! use mlx_rs_core::Array;
//! # fn main() -> mlx_rs_core::Result<()> {
//! // Outside a job (no MLX_RANK / MLX_HOSTFILE set) this is a group of one
//! // process, in which every reduction returns its input.
//! let group = Group::init_or_single(Backend::Ring)?;
//! let x = Array::from_slice(&[1.0f32, 2.0, 3.0], &[3])?;
//! let total = distributed::all_sum(&x, &group)?;
//! if group.size() == 1 {
//!     assert_eq!(total.to_vec::<f32>()?, [1.0, 2.0, 3.0]);
//! }
//! # Ok(()) }
//! ```
//!
//! # Failures
//! Nothing here exits the process. [`Group::init`] checks the job's
//! environment and, for the ring, the hostfile and every neighbour's
//! reachability before MLX connects (MLX's own ring set-up waits forever for
//! a peer that never comes); it returns `Err` within its timeout. A peer
//! that dies during a ring collective makes the evaluation return `Err`
//! (`[ring] connection to a peer was lost`) within milliseconds; the group is
//! unusable afterwards (MLX's socket threads have stopped), so end the
//! process. Rust programs ignore `SIGPIPE` by default, which the ring relies
//! on when writing to a closed peer.
//!
//! MLX's NCCL backend (CUDA builds) ends the process with `exit(1)` when a
//! CUDA or NCCL call fails, for instance when a peer dies mid-collective.
//! [`Group::init`] rules out the failures it can see beforehand (no usable
//! GPU, missing or malformed variables, a rank outside the world), but a
//! failure during an NCCL collective still ends the process.
//!
//! # Backends' limits (MLX 0.32.2)
//! - Ring: `send`/`recv` only between neighbours (rank ± 1 modulo the size);
//!   no [`Group::split`]; [`sum_scatter`] is computed here as an
//!   [`all_sum`] followed by a slice, as MLX's ring has none.
//! - NCCL: no `send`/`recv`.
//! - A process holds one group per backend: MLX caches it.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream, ToSocketAddrs};
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::ffi::{array_op, mlx_call, mlx_value};
use crate::{Array, Device, Dtype, Error, Result, Stream, StreamOrDevice};

/// How long [`Group::init`] waits for every peer of a ring job.
pub const DEFAULT_INIT_TIMEOUT: Duration = Duration::from_secs(60);

/// A communication backend of MLX.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Backend {
    /// The first one configured: NCCL (with a usable GPU and its variables
    /// set), then the ring (`MLX_RANK` and `MLX_HOSTFILE` set), then MPI
    /// (under `mpirun`).
    Any,
    /// MLX's TCP ring: CPU arrays, any machines reachable over TCP.
    /// Configured by `MLX_RANK` and `MLX_HOSTFILE`.
    Ring,
    /// NVIDIA's NCCL (CUDA builds of MLX): GPU arrays. Configured by
    /// `MLX_RANK`, `MLX_WORLD_SIZE`, `NCCL_HOST_IP` and `NCCL_PORT`.
    Nccl,
    /// MPI, loaded at run time (`libmpi`, `MLX_MPI_LIBNAME`); started by
    /// `mpirun`.
    Mpi,
}

impl Backend {
    /// MLX's name for the backend.
    pub fn name(self) -> &'static str {
        match self {
            Backend::Any => "any",
            Backend::Ring => "ring",
            Backend::Nccl => "nccl",
            Backend::Mpi => "mpi",
        }
    }
}

/// Whether this libmlx was built with `backend` (a build fact: the ring is
/// always there, NCCL only in CUDA builds, MPI when a `libmpi` loads).
/// Whether a job is configured is a separate question, answered by
/// [`Group::init`].
pub fn is_available(backend: Backend) -> bool {
    let name = c_name(backend);
    mlx_value!(mlx_distributed_is_available(name.as_ptr())).unwrap_or(false)
}

fn c_name(backend: Backend) -> std::ffi::CString {
    std::ffi::CString::new(backend.name()).expect("backend names have no NUL")
}

/// The owned mlx-c group handle, shared by clones of a [`Group`].
struct RawGroup(mlx_sys::mlx_distributed_group);

impl Drop for RawGroup {
    fn drop(&mut self) {
        if !self.0.ctx.is_null() {
            let _ = mlx_call!(mlx_distributed_group_free(self.0));
        }
    }
}

/// A group of processes that communicate (MLX's `distributed::Group`).
///
/// Made by [`Group::init`] (every process of the job) or [`Group::split`];
/// cloning is cheap and shares the group.
#[derive(Clone)]
pub struct Group {
    raw: Arc<RawGroup>,
    backend: Option<Backend>,
    rank: usize,
    size: usize,
}

// SAFETY: the handle owns a heap copy of MLX's `Group` (a shared pointer to
// the backend's state); every use of it goes through `ffi::check`, which
// serializes calls into MLX process-wide, so sharing or moving it between
// threads never races inside MLX.
unsafe impl Send for RawGroup {}
// SAFETY: as above; `&RawGroup` only hands the handle to serialized calls.
unsafe impl Sync for RawGroup {}

impl std::fmt::Debug for Group {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Group")
            .field("backend", &self.backend)
            .field("rank", &self.rank)
            .field("size", &self.size)
            .finish()
    }
}

impl Group {
    /// Joins the job described by this process's environment on `backend`
    /// (see [`Backend`] for the variables each reads), waiting at most
    /// [`DEFAULT_INIT_TIMEOUT`] for the peers.
    ///
    /// Returns `Err` when the backend is not in this libmlx, the job's
    /// variables are missing or malformed, the hostfile is unreadable or
    /// wrong (an address not on this host, a port in use), or a peer does
    /// not answer in time; never exits.
    ///
    /// ```
    /// use mlx_rs_core::distributed::{Backend, Group};
    /// // Without MLX_RANK / MLX_HOSTFILE there is no ring job to join.
    /// if std::env::var_os("MLX_HOSTFILE").is_none() {
    ///     let err = Group::init(Backend::Ring).unwrap_err();
    ///     assert!(err.to_string().contains("MLX_HOSTFILE"));
    /// }
    /// ```
    #[track_caller]
    pub fn init(backend: Backend) -> Result<Group> {
        Group::init_timeout(backend, DEFAULT_INIT_TIMEOUT)
    }

    /// [`Group::init`] with a chosen wait for the peers (ring and NCCL
    /// set-up; MPI has its own).
    #[track_caller]
    pub fn init_timeout(backend: Backend, timeout: Duration) -> Result<Group> {
        let env = JobEnv::from_process();
        let chosen = match backend {
            Backend::Any => env.pick().ok_or_else(|| {
                Error::invalid(
                    "no distributed job is configured: set MLX_RANK and MLX_HOSTFILE (ring), \
                     MLX_RANK, MLX_WORLD_SIZE, NCCL_HOST_IP and NCCL_PORT (NCCL), run under \
                     mpirun (MPI), or start the program with mlx-launch",
                )
            })?,
            other => other,
        };
        if !is_available(chosen) {
            return Err(Error::invalid(format!(
                "the {} backend is not available in this build of MLX",
                chosen.name()
            )));
        }
        let expected_size = match chosen {
            Backend::Ring => {
                let job = env.ring()?;
                ring_preflight(&job, timeout)?;
                Some(job.hostfile.len())
            }
            Backend::Nccl => {
                let (rank, size) = env.nccl()?;
                if !crate::cuda_is_available() {
                    return Err(Error::invalid(
                        "the NCCL backend needs a usable CUDA GPU; none was found",
                    ));
                }
                // MLX's NCCL group binds the process to GPU `rank % count`
                // while arrays stay on the default GPU; when they differ the
                // first collective aborts the process (seen with 2 GPUs
                // visible to each of 2 ranks). One GPU per process (what
                // mlx-launch sets up) or a matching default avoids it.
                let count = Device::count(crate::DeviceType::Gpu)?.max(1) as usize;
                let default = Device::default_device()?;
                if default.device_type() == crate::DeviceType::Gpu
                    && default.index() as usize != rank % count
                {
                    return Err(Error::invalid(format!(
                        "NCCL rank {rank} would use GPU {} but arrays live on GPU {}: give each \
                         process one GPU (CUDA_VISIBLE_DEVICES, as mlx-launch does)",
                        rank % count,
                        default.index()
                    )));
                }
                Some(size)
            }
            Backend::Mpi | Backend::Any => None,
        };
        let group = Group::mlx_init(chosen, true)?;
        match expected_size {
            Some(n) if n != group.size => Err(Error::invalid(format!(
                "MLX returned a group of {} processes for a job of {n}: a {} group \
                 of another size was made earlier in this process",
                group.size,
                chosen.name()
            ))),
            _ => Ok(group),
        }
    }

    /// Like [`Group::init`], but a process started outside any job (none of
    /// the backend's variables set) gets a group of one process instead of
    /// `Err`: reductions and gathers return their input, `send`/`recv`
    /// return `Err`. A job that is configured but broken is still `Err`.
    ///
    /// ```
    /// use mlx_rs_core::distributed::{Backend, Group};
    /// let g = Group::init_or_single(Backend::Any)?;
    /// if std::env::var_os("MLX_RANK").is_none() {
    ///     assert_eq!((g.rank(), g.size()), (0, 1));
    /// }
    /// # Ok::<(), mlx_rs_core::Error>(())
    /// ```
    #[track_caller]
    pub fn init_or_single(backend: Backend) -> Result<Group> {
        let env = JobEnv::from_process();
        let configured = match backend {
            Backend::Any => env.pick().is_some(),
            Backend::Ring => env.rank.is_some() || env.hostfile.is_some(),
            Backend::Nccl => env.rank.is_some() || env.nccl_host.is_some(),
            Backend::Mpi => env.under_mpirun,
        };
        if configured {
            return Group::init(backend);
        }
        // MLX's non-strict ring init without its variables is a group of
        // one; asking for the ring keeps MLX from probing other backends.
        Group::mlx_init(Backend::Ring, false)
    }

    #[track_caller]
    fn mlx_init(backend: Backend, strict: bool) -> Result<Group> {
        let name = c_name(backend);
        // SAFETY: creating an empty handle has no preconditions.
        let mut raw = RawGroup(unsafe { mlx_sys::mlx_distributed_group_new() });
        mlx_call!(mlx_distributed_init(&mut raw.0, strict, name.as_ptr()))?;
        if raw.0.ctx.is_null() {
            return Err(Error::invalid("MLX returned no distributed group"));
        }
        Group::wrap(raw, Some(backend))
    }

    #[track_caller]
    fn wrap(raw: RawGroup, backend: Option<Backend>) -> Result<Group> {
        let rank = mlx_value!(mlx_distributed_group_rank(raw.0))?;
        let size = mlx_value!(mlx_distributed_group_size(raw.0))?;
        let (rank, size) = match (usize::try_from(rank), usize::try_from(size)) {
            (Ok(r), Ok(s)) if s >= 1 && r < s => (r, s),
            _ => {
                return Err(Error::invalid(format!(
                    "MLX reported rank {rank} in a group of {size}"
                )))
            }
        };
        // A group of one communicates with nobody, whatever MLX made it from.
        let backend = if size == 1 { None } else { backend };
        Ok(Group {
            raw: Arc::new(raw),
            backend,
            rank,
            size,
        })
    }

    /// This process's rank in the group, `0..size()`.
    pub fn rank(&self) -> usize {
        self.rank
    }

    /// The number of processes in the group.
    pub fn size(&self) -> usize {
        self.size
    }

    /// The backend the group communicates through; `None` for a group of one.
    pub fn backend(&self) -> Option<Backend> {
        self.backend
    }

    /// Splits the group: processes passing the same `color` form a new
    /// group, ranked by `key` (by their current rank when `None`). Every
    /// process of the group must call it. The ring backend cannot split
    /// (`Err`).
    #[track_caller]
    pub fn split(&self, color: u32, key: Option<u32>) -> Result<Group> {
        if self.backend == Some(Backend::Ring) {
            return Err(Error::invalid(
                "the ring backend cannot split a group (MLX 0.32.2)",
            ));
        }
        let color = i32::try_from(color).map_err(|_| Error::invalid("color exceeds i32"))?;
        let key = match key {
            Some(k) => i32::try_from(k).map_err(|_| Error::invalid("key exceeds i32"))?,
            None => -1,
        };
        // SAFETY: creating an empty handle has no preconditions.
        let mut raw = RawGroup(unsafe { mlx_sys::mlx_distributed_group_new() });
        mlx_call!(mlx_distributed_group_split(
            &mut raw.0, self.raw.0, color, key
        ))?;
        Group::wrap(raw, self.backend)
    }

    fn raw(&self) -> mlx_sys::mlx_distributed_group {
        self.raw.0
    }

    /// The stream a collective runs on: the caller's choice, else the
    /// default stream of the backend's device (the CPU for the ring and
    /// MPI, the GPU for NCCL), as MLX does when given no stream.
    #[track_caller]
    fn stream(&self, on: StreamOrDevice<'_>) -> Result<Stream> {
        match on {
            StreamOrDevice::Default => match self.backend {
                Some(Backend::Nccl) => Device::gpu().default_stream(),
                _ => Device::cpu().default_stream(),
            },
            other => other.resolve(),
        }
    }

    #[track_caller]
    fn check_peer(&self, peer: usize, what: &str) -> Result<i32> {
        if peer >= self.size {
            return Err(Error::invalid(format!(
                "{what} rank {peer} is outside this group of {}",
                self.size
            )));
        }
        if peer == self.rank {
            return Err(Error::invalid(format!(
                "rank {peer} cannot {} itself",
                if what == "destination" {
                    "send to"
                } else {
                    "receive from"
                }
            )));
        }
        if self.backend == Some(Backend::Ring) {
            let right = (self.rank + 1) % self.size;
            let left = (self.rank + self.size - 1) % self.size;
            if peer != left && peer != right {
                return Err(Error::invalid(format!(
                    "the ring backend only communicates between neighbours: rank {} can \
                     reach ranks {left} and {right}, not {peer}",
                    self.rank
                )));
            }
        }
        if self.backend == Some(Backend::Nccl) {
            return Err(Error::invalid(
                "MLX's NCCL backend has no send/recv (MLX 0.32.2)",
            ));
        }
        i32::try_from(peer).map_err(|_| Error::invalid("rank exceeds i32"))
    }
}

/// Defines a collective and its `_on` twin; the default stream is the
/// group's (see `Group::stream`), not the thread's.
macro_rules! collective {
    ($(#[$m:meta])* fn $name:ident($($arg:ident: $ty:ty),*) -> $ret:ty |$g:ident, $s:ident| $body:block) => {
        paste::paste! {
            $(#[$m])*
            #[track_caller]
            pub fn $name($($arg: $ty,)* $g: &Group) -> Result<$ret> {
                [<$name _on>]($($arg,)* $g, StreamOrDevice::Default)
            }

            #[doc = concat!("[`", stringify!($name), "()`] on a chosen stream or device.")]
            #[track_caller]
            pub fn [<$name _on>]<'s>(
                $($arg: $ty,)*
                $g: &Group,
                on: impl Into<StreamOrDevice<'s>>,
            ) -> Result<$ret> {
                let $s = $g.stream(on.into())?;
                $body
            }
        }
    };
}

collective! {
    /// The element-wise sum of `x` over all processes of `group`; every
    /// process gets the result. `x` must have the same shape and dtype on
    /// every process.
    ///
    /// ```
    /// # use mlx_rs_core::distributed::{self, Backend, Group};
    /// # use mlx_rs_core::Array;
    /// let g = Group::init_or_single(Backend::Any)?;
    /// let x = Array::from_slice(&[1i32, 2], &[2])?;
    /// let s = distributed::all_sum(&x, &g)?.to_vec::<i32>()?;
    /// assert_eq!(s, [g.size() as i32, 2 * g.size() as i32]);
    /// # Ok::<(), mlx_rs_core::Error>(())
    /// ```
    fn all_sum(x: &Array) -> Array |group, s| {
        array_op!(mlx_distributed_all_sum(x.as_raw(), group.raw(), s.as_raw()))
    }
}

collective! {
    /// The element-wise maximum of `x` over all processes of `group`.
    fn all_max(x: &Array) -> Array |group, s| {
        array_op!(mlx_distributed_all_max(x.as_raw(), group.raw(), s.as_raw()))
    }
}

collective! {
    /// The element-wise minimum of `x` over all processes of `group`.
    fn all_min(x: &Array) -> Array |group, s| {
        array_op!(mlx_distributed_all_min(x.as_raw(), group.raw(), s.as_raw()))
    }
}

collective! {
    /// Every process's `x` concatenated along axis 0 in rank order (a
    /// scalar becomes a vector of `size()` elements).
    fn all_gather(x: &Array) -> Array |group, s| {
        array_op!(mlx_distributed_all_gather(x.as_raw(), group.raw(), s.as_raw()))
    }
}

collective! {
    /// The sum over all processes of `x`, of which each process keeps its
    /// slice of axis 0: rows `rank * n / size .. (rank + 1) * n / size`.
    /// Axis 0 must divide by the group size. On the ring (which lacks the
    /// primitive in MLX 0.32.2) it is an [`all_sum`] followed by a slice.
    fn sum_scatter(x: &Array) -> Array |group, s| {
        if group.size == 1 {
            return Ok(x.clone());
        }
        let shape = x.shape();
        let rows = match shape.first() {
            Some(&n) if n as usize % group.size == 0 => n,
            _ => {
                return Err(Error::invalid(format!(
                    "sum_scatter needs axis 0 divisible by the group size {}, got shape {shape:?}",
                    group.size
                )))
            }
        };
        if group.backend == Some(Backend::Ring) {
            let total = all_sum_on(x, group, &s)?;
            let part = rows / group.size as i32;
            let mut start = vec![0; shape.len()];
            let mut stop = shape.clone();
            start[0] = part * group.rank as i32;
            stop[0] = start[0] + part;
            let strides = vec![1; shape.len()];
            return crate::ops::slice_on(&total, &start, &stop, &strides, &s);
        }
        array_op!(mlx_distributed_sum_scatter(x.as_raw(), group.raw(), s.as_raw()))
    }
}

collective! {
    /// Sends `x` to rank `dst`, which must call [`recv`] or [`recv_like`]
    /// for it. The result is an empty-shaped marker: evaluate it to make the
    /// send happen. The ring sends only to neighbours (rank ± 1).
    fn send(x: &Array, dst: usize) -> Array |group, s| {
        let dst = group.check_peer(dst, "destination")?;
        array_op!(mlx_distributed_send(x.as_raw(), dst, group.raw(), s.as_raw()))
    }
}

collective! {
    /// Receives an array of `shape` and `dtype` sent by rank `src` with
    /// [`send`].
    fn recv(shape: &[i32], dtype: Dtype, src: usize) -> Array |group, s| {
        let src = group.check_peer(src, "source")?;
        crate::array::checked_size(shape)?;
        array_op!(mlx_distributed_recv(
            shape.as_ptr(),
            shape.len(),
            dtype.to_raw(),
            src,
            group.raw(),
            s.as_raw()
        ))
    }
}

collective! {
    /// Receives an array shaped and typed like `like` from rank `src`.
    fn recv_like(like: &Array, src: usize) -> Array |group, s| {
        let src = group.check_peer(src, "source")?;
        array_op!(mlx_distributed_recv_like(like.as_raw(), src, group.raw(), s.as_raw()))
    }
}

// ---------------------------------------------------------------------------
// The job's environment.

/// The variables that configure a job, read once.
struct JobEnv {
    rank: Option<String>,
    hostfile: Option<String>,
    world_size: Option<String>,
    nccl_host: Option<String>,
    nccl_port: Option<String>,
    /// Whether an MPI launcher started this process (Open MPI, MPICH and
    /// PMIx set these); MPI outside one is a job of one process.
    under_mpirun: bool,
}

/// A ring job: this process's rank and the hostfile.
struct RingJob {
    rank: usize,
    hostfile: Hostfile,
}

impl JobEnv {
    fn from_process() -> JobEnv {
        let var = |k: &str| std::env::var(k).ok().filter(|v| !v.is_empty());
        JobEnv {
            rank: var("MLX_RANK"),
            hostfile: var("MLX_HOSTFILE"),
            world_size: var("MLX_WORLD_SIZE"),
            nccl_host: var("NCCL_HOST_IP"),
            nccl_port: var("NCCL_PORT"),
            under_mpirun: ["OMPI_COMM_WORLD_SIZE", "PMI_SIZE", "PMIX_RANK"]
                .iter()
                .any(|k| var(k).is_some()),
        }
    }

    /// [`Backend::Any`]'s choice, in MLX's order.
    fn pick(&self) -> Option<Backend> {
        if self.nccl_host.is_some() && is_available(Backend::Nccl) && crate::cuda_is_available() {
            Some(Backend::Nccl)
        } else if self.hostfile.is_some() || self.rank.is_some() && self.nccl_host.is_none() {
            Some(Backend::Ring)
        } else if self.under_mpirun && is_available(Backend::Mpi) {
            Some(Backend::Mpi)
        } else {
            None
        }
    }

    #[track_caller]
    fn ring(&self) -> Result<RingJob> {
        let (Some(rank), Some(path)) = (&self.rank, &self.hostfile) else {
            return Err(Error::invalid(format!(
                "a ring job needs MLX_RANK and MLX_HOSTFILE, found MLX_RANK={:?} and \
                 MLX_HOSTFILE={:?} (start the program with mlx-launch, or set both)",
                self.rank.as_deref().unwrap_or(""),
                self.hostfile.as_deref().unwrap_or("")
            )));
        };
        let hostfile = Hostfile::read(path)?;
        let rank = parse_rank("MLX_RANK", rank)?;
        if rank >= hostfile.len() {
            return Err(Error::invalid(format!(
                "MLX_RANK={rank} but the hostfile {path} lists {} ranks",
                hostfile.len()
            )));
        }
        Ok(RingJob { rank, hostfile })
    }

    #[track_caller]
    fn nccl(&self) -> Result<(usize, usize)> {
        let need = |name: &str, v: &Option<String>| -> Result<String> {
            v.clone().ok_or_else(|| {
                Error::invalid(format!(
                    "an NCCL job needs MLX_RANK, MLX_WORLD_SIZE, NCCL_HOST_IP and NCCL_PORT; \
                     {name} is not set"
                ))
            })
        };
        let rank = parse_rank("MLX_RANK", &need("MLX_RANK", &self.rank)?)?;
        let size = parse_rank("MLX_WORLD_SIZE", &need("MLX_WORLD_SIZE", &self.world_size)?)?;
        need("NCCL_HOST_IP", &self.nccl_host)?;
        let port = need("NCCL_PORT", &self.nccl_port)?;
        if port.parse::<u16>().map_or(true, |p| p == 0) {
            return Err(Error::invalid(format!(
                "NCCL_PORT={port:?} is not a port number"
            )));
        }
        if size == 0 || rank >= size {
            return Err(Error::invalid(format!(
                "MLX_RANK={rank} is outside a world of MLX_WORLD_SIZE={size}"
            )));
        }
        Ok((rank, size))
    }
}

#[track_caller]
fn parse_rank(name: &str, value: &str) -> Result<usize> {
    value
        .trim()
        .parse::<usize>()
        .ok()
        .filter(|&v| v <= i32::MAX as usize)
        .ok_or_else(|| Error::invalid(format!("{name}={value:?} is not a non-negative integer")))
}

// ---------------------------------------------------------------------------
// The ring's hostfile.

/// The ring backend's hostfile: for each rank, in rank order, one or more
/// `"host:port"` addresses it listens on (several addresses make several
/// connections between neighbours). JSON, e.g.
/// `[["127.0.0.1:5000"], ["127.0.0.1:5001"]]`.
///
/// ```
/// use mlx_rs_core::distributed::Hostfile;
/// let h = Hostfile::parse(r#"[["127.0.0.1:5000"], ["127.0.0.1:5001"]]"#)?;
/// assert_eq!(h.len(), 2);
/// assert_eq!(h.addresses(1), ["127.0.0.1:5001"]);
/// assert_eq!(Hostfile::parse(&h.to_json())?, h);
/// assert!(Hostfile::parse(r#"[["127.0.0.1"]]"#).is_err()); // no port
/// # Ok::<(), mlx_rs_core::Error>(())
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Hostfile {
    ranks: Vec<Vec<String>>,
}

impl Hostfile {
    /// A hostfile from each rank's addresses; checks them like
    /// [`Hostfile::parse`] does.
    #[track_caller]
    pub fn new(ranks: Vec<Vec<String>>) -> Result<Hostfile> {
        if ranks.len() < 2 {
            return Err(Error::invalid(format!(
                "a ring hostfile needs at least 2 ranks, found {}",
                ranks.len()
            )));
        }
        let per_rank = ranks[0].len();
        for (rank, addrs) in ranks.iter().enumerate() {
            if addrs.is_empty() || addrs.len() != per_rank {
                return Err(Error::invalid(format!(
                    "every rank of a ring hostfile needs the same number (at least one) of \
                     addresses; rank 0 has {per_rank}, rank {rank} has {}",
                    addrs.len()
                )));
            }
            for a in addrs {
                split_host_port(a)?;
            }
        }
        Ok(Hostfile { ranks })
    }

    /// Parses a hostfile's JSON text.
    #[track_caller]
    pub fn parse(json: &str) -> Result<Hostfile> {
        let value: serde_json::Value = serde_json::from_str(json)
            .map_err(|e| Error::invalid(format!("the hostfile is not valid JSON: {e}")))?;
        let bad = || {
            Error::invalid(
                "a ring hostfile is a JSON list with, per rank, a list of \"host:port\" strings",
            )
        };
        let ranks = value
            .as_array()
            .ok_or_else(bad)?
            .iter()
            .map(|r| {
                r.as_array()
                    .ok_or_else(bad)?
                    .iter()
                    .map(|a| a.as_str().map(str::to_owned).ok_or_else(bad))
                    .collect::<Result<Vec<_>>>()
            })
            .collect::<Result<Vec<_>>>()?;
        Hostfile::new(ranks)
    }

    /// Reads and parses the hostfile at `path`.
    #[track_caller]
    pub fn read(path: impl AsRef<Path>) -> Result<Hostfile> {
        let path = path.as_ref();
        let text = std::fs::read_to_string(path).map_err(|e| {
            Error::invalid(format!("cannot read the hostfile {}: {e}", path.display()))
        })?;
        Hostfile::parse(&text)
            .map_err(|e| Error::invalid(format!("hostfile {}: {}", path.display(), e.message())))
    }

    /// The number of ranks.
    pub fn len(&self) -> usize {
        self.ranks.len()
    }

    /// Always `false`: a hostfile has at least two ranks.
    pub fn is_empty(&self) -> bool {
        self.ranks.is_empty()
    }

    /// The addresses of `rank` (panics if `rank >= len()`).
    pub fn addresses(&self, rank: usize) -> &[String] {
        &self.ranks[rank]
    }

    /// The JSON text MLX reads.
    pub fn to_json(&self) -> String {
        serde_json::to_string(&self.ranks).expect("strings always serialize")
    }

    /// A stable fingerprint, so that ranks can check they read the same file.
    fn fingerprint(&self) -> u64 {
        // FNV-1a over the canonical JSON.
        self.to_json()
            .bytes()
            .fold(0xcbf2_9ce4_8422_2325u64, |h, b| {
                (h ^ u64::from(b)).wrapping_mul(0x0000_0100_0000_01b3)
            })
    }
}

#[track_caller]
fn split_host_port(addr: &str) -> Result<(&str, u16)> {
    let bad = || Error::invalid(format!("{addr:?} is not a \"host:port\" address"));
    let (host, port) = addr.rsplit_once(':').ok_or_else(bad)?;
    let port = port.parse::<u16>().map_err(|_| bad())?;
    if host.is_empty() || port == 0 {
        return Err(bad());
    }
    Ok((host, port))
}

/// The IPv4 address MLX's ring would use for `addr` (it opens IPv4 sockets).
#[track_caller]
fn resolve_v4(addr: &str) -> Result<SocketAddr> {
    let (host, port) = split_host_port(addr)?;
    (host, port)
        .to_socket_addrs()
        .map_err(|e| Error::invalid(format!("cannot resolve {addr}: {e}")))?
        .find(SocketAddr::is_ipv4)
        .ok_or_else(|| Error::invalid(format!("{addr} has no IPv4 address")))
}

// ---------------------------------------------------------------------------
// Ring pre-flight.
//
// MLX's ring set-up blocks in accept() with no timeout, takes the first
// connection as its neighbour, and treats a malformed rank as an index. So
// before handing over, every rank listens on its own addresses and reaches
// its right neighbour's with a small hello (rank, size, hostfile
// fingerprint): a wrong address, a port in use, a peer that never comes or
// ranks that read different hostfiles become `Err` within the timeout.
// Once it passes, both neighbours are alive and about to start MLX's set-up.

const HELLO_MAGIC: u32 = 0x4d4c_5852; // "MLXR"
const HELLO_LEN: usize = 20;

fn hello(rank: usize, size: usize, fingerprint: u64) -> [u8; HELLO_LEN] {
    let mut b = [0u8; HELLO_LEN];
    b[0..4].copy_from_slice(&HELLO_MAGIC.to_le_bytes());
    b[4..8].copy_from_slice(&(rank as u32).to_le_bytes());
    b[8..12].copy_from_slice(&(size as u32).to_le_bytes());
    b[12..20].copy_from_slice(&fingerprint.to_le_bytes());
    b
}

#[track_caller]
fn ring_preflight(job: &RingJob, timeout: Duration) -> Result<()> {
    let deadline = Instant::now() + timeout;
    let size = job.hostfile.len();
    let rank = job.rank;
    let right = (rank + 1) % size;
    let left = (rank + size - 1) % size;
    let fingerprint = job.hostfile.fingerprint();

    let mut listeners = Vec::new();
    for addr in job.hostfile.addresses(rank) {
        let sock = resolve_v4(addr)?;
        let l = TcpListener::bind(sock).map_err(|e| {
            Error::invalid(format!(
                "rank {rank} cannot listen on {addr} from the hostfile: {e} (the port is in \
                 use, or the address is not one of this host's)"
            ))
        })?;
        l.set_nonblocking(true)
            .map_err(|e| Error::invalid(format!("rank {rank}: {addr}: {e}")))?;
        listeners.push((addr.clone(), l));
    }
    let targets = job
        .hostfile
        .addresses(right)
        .iter()
        .map(|a| resolve_v4(a).map(|s| (a.clone(), s)))
        .collect::<Result<Vec<_>>>()?;

    let accept = std::thread::spawn(move || -> std::result::Result<(), String> {
        for (addr, l) in listeners {
            accept_hello(&addr, l, rank, left, size, fingerprint, deadline)?;
        }
        Ok(())
    });
    let mut result = targets.iter().try_for_each(|(addr, sock)| {
        connect_hello(addr, *sock, rank, right, size, fingerprint, deadline)
    });
    let accepted = accept
        .join()
        .unwrap_or_else(|_| Err("the pre-flight thread panicked".into()));
    if result.is_ok() {
        result = accepted;
    }
    match result {
        Ok(()) => Ok(()),
        Err(message) => Err(Error::invalid(message)),
    }
}

fn accept_hello(
    addr: &str,
    l: TcpListener,
    rank: usize,
    left: usize,
    size: usize,
    fingerprint: u64,
    deadline: Instant,
) -> std::result::Result<(), String> {
    loop {
        match l.accept() {
            Ok((mut conn, _)) => {
                let _ = conn.set_nonblocking(false);
                let wait = deadline.saturating_duration_since(Instant::now());
                let _ = conn.set_read_timeout(Some(wait.max(Duration::from_millis(10))));
                let mut buf = [0u8; HELLO_LEN];
                if conn.read_exact(&mut buf).is_err() {
                    // Not a peer of this job (or one that gave up): keep waiting.
                    continue;
                }
                let expected = hello(left, size, fingerprint);
                let ok = buf == expected;
                // Close the listener before the peer hears back: once it has
                // the answer it connects to MLX's listener on this same port,
                // and a connection queued on this one instead would be reset
                // after MLX's connect had already succeeded (both ranks then
                // wait in accept forever).
                drop(l);
                let _ = conn.write_all(&[u8::from(ok)]);
                if ok {
                    return Ok(());
                }
                return Err(mismatch(rank, &buf, left, size, fingerprint));
            }
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {
                if Instant::now() >= deadline {
                    return Err(format!(
                        "rank {rank}: rank {left} did not connect to {addr} in time (is it \
                         running, with the same hostfile?)"
                    ));
                }
                std::thread::sleep(Duration::from_millis(10));
            }
            Err(e) => return Err(format!("rank {rank}: accepting on {addr} failed: {e}")),
        }
    }
}

fn mismatch(rank: usize, got: &[u8; HELLO_LEN], left: usize, size: usize, fp: u64) -> String {
    let word = |i: usize| u32::from_le_bytes(got[i..i + 4].try_into().expect("4 bytes"));
    if word(0) != HELLO_MAGIC {
        return format!("rank {rank}: a connection that is not from this job arrived");
    }
    let fp_got = u64::from_le_bytes(got[12..20].try_into().expect("8 bytes"));
    format!(
        "rank {rank} expected rank {left} of {size} as its left neighbour but rank {} of {} \
         connected{}",
        word(4),
        word(8),
        if fp_got != fp {
            " with a different hostfile"
        } else {
            ""
        }
    )
}

fn connect_hello(
    addr: &str,
    sock: SocketAddr,
    rank: usize,
    right: usize,
    size: usize,
    fingerprint: u64,
    deadline: Instant,
) -> std::result::Result<(), String> {
    loop {
        let now = Instant::now();
        if now >= deadline {
            return Err(format!(
                "rank {rank}: could not reach rank {right} at {addr} in time (is it running, \
                 with the same hostfile?)"
            ));
        }
        let wait = (deadline - now).min(Duration::from_millis(500));
        match TcpStream::connect_timeout(&sock, wait) {
            Ok(mut conn) => {
                let left_time = deadline.saturating_duration_since(Instant::now());
                let _ = conn.set_read_timeout(Some(left_time.max(Duration::from_millis(10))));
                let mut ack = [0u8; 1];
                let sent = conn.write_all(&hello(rank, size, fingerprint));
                match sent.and_then(|()| conn.read_exact(&mut ack)) {
                    Ok(()) if ack[0] == 1 => return Ok(()),
                    Ok(()) => {
                        return Err(format!(
                            "rank {rank}: rank {right} at {addr} rejected this process (its \
                             hostfile or world size differs)"
                        ))
                    }
                    // The listener was not a ready peer yet; try again.
                    Err(_) => std::thread::sleep(Duration::from_millis(20)),
                }
            }
            Err(_) => std::thread::sleep(Duration::from_millis(20)),
        }
    }
}
