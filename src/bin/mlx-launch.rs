//! `mlx-launch`: starts the processes of a distributed MLX job on this host.
//!
//! Like Python's `mlx.launch`, it gives every process the environment MLX's
//! backends read (ring: `MLX_RANK`, `MLX_HOSTFILE`; NCCL: `MLX_RANK`,
//! `MLX_WORLD_SIZE`, `NCCL_HOST_IP`, `NCCL_PORT`), forwards each process's
//! output with a `[rank]` prefix, and ends the job as a whole: when one rank
//! fails, the others get a grace period and are then stopped; `--timeout`
//! bounds the whole job. Every child is waited for, so none is left behind.
//! See `docs/distributed.md` and `mlx-launch --help`.

#[cfg(unix)]
fn main() {
    std::process::exit(launch::main());
}

#[cfg(not(unix))]
fn main() {
    eprintln!("mlx-launch: only Unix systems are supported");
    std::process::exit(2);
}

#[cfg(unix)]
mod launch {
    use std::ffi::OsString;
    use std::io::{BufRead, BufReader, Read, Write};
    use std::net::TcpListener;
    use std::os::unix::process::{CommandExt, ExitStatusExt};
    use std::path::PathBuf;
    use std::process::{Child, Command, ExitStatus, Stdio};
    use std::sync::atomic::{AtomicI32, Ordering};
    use std::sync::{Arc, Mutex};
    use std::thread::JoinHandle;
    use std::time::{Duration, Instant};

    use mlx_rs::distributed::Hostfile;

    const USAGE: &str = "\
usage: mlx-launch [options] -- PROGRAM [ARGS...]

Starts the ranks of a distributed MLX job on this host and forwards their
output with a [rank] prefix.

options:
  -n, --np N          number of processes to start (ranks 0..N)
  --backend B         ring (default) or nccl
  --host ADDR         address the ranks use on this host (default 127.0.0.1)
  --port P            first port to use (default: free ports chosen by the system)
  --hostfile FILE     ring: use this hostfile instead of making one (for jobs
                      spread over several hosts, with --ranks)
  --ranks LIST        with --hostfile: the ranks to start here, e.g. 2,3
                      (default: all ranks of the hostfile)
  --timeout SECS      stop the whole job after SECS seconds (exit code 124)
  --grace SECS        after one rank fails, wait this long before stopping
                      the others (default 10)
  --gpus G            nccl: GPUs on this host; rank r gets GPU r % G through
                      CUDA_VISIBLE_DEVICES (default: one per rank; a
                      CUDA_VISIBLE_DEVICES list already set is dealt out instead)
  --verbose           ask MLX's ring to log its connection set-up
  -h, --help          show this text

Exit code: 0 when every rank succeeds; otherwise the first failing rank's
code (128 + signal for a rank killed by a signal), 124 on timeout, 130 when
interrupted, 2 for bad options.";

    #[derive(Clone, Copy, PartialEq)]
    enum BackendOpt {
        Ring,
        Nccl,
    }

    struct Options {
        np: Option<usize>,
        backend: BackendOpt,
        host: String,
        port: Option<u16>,
        hostfile: Option<PathBuf>,
        ranks: Option<Vec<usize>>,
        timeout: Option<Duration>,
        grace: Duration,
        gpus: Option<usize>,
        verbose: bool,
        program: Vec<OsString>,
    }

    fn parse_args(args: Vec<OsString>) -> Result<Option<Options>, String> {
        let mut o = Options {
            np: None,
            backend: BackendOpt::Ring,
            host: "127.0.0.1".into(),
            port: None,
            hostfile: None,
            ranks: None,
            timeout: None,
            grace: Duration::from_secs(10),
            gpus: None,
            verbose: false,
            program: Vec::new(),
        };
        let mut it = args.into_iter();
        let secs = |name: &str, v: String| -> Result<Duration, String> {
            v.parse::<f64>()
                .ok()
                .filter(|s| s.is_finite() && *s >= 0.0 && *s < 1e9)
                .map(Duration::from_secs_f64)
                .ok_or_else(|| format!("{name} needs a number of seconds, got {v:?}"))
        };
        while let Some(arg) = it.next() {
            let arg = arg
                .into_string()
                .map_err(|a| format!("option {a:?} is not valid text"))?;
            let mut value = |name: &str| -> Result<String, String> {
                it.next()
                    .and_then(|v| v.into_string().ok())
                    .ok_or_else(|| format!("{name} needs a value"))
            };
            match arg.as_str() {
                "-h" | "--help" => return Ok(None),
                "-n" | "--np" => {
                    let v = value(&arg)?;
                    let n = v
                        .parse::<usize>()
                        .ok()
                        .filter(|n| (1..=1024).contains(n))
                        .ok_or_else(|| format!("{arg} needs a count from 1 to 1024, got {v:?}"))?;
                    o.np = Some(n);
                }
                "--backend" => {
                    o.backend = match value(&arg)?.as_str() {
                        "ring" => BackendOpt::Ring,
                        "nccl" => BackendOpt::Nccl,
                        other => return Err(format!("--backend is ring or nccl, got {other:?}")),
                    }
                }
                "--host" => o.host = value(&arg)?,
                "--port" => {
                    let v = value(&arg)?;
                    o.port = Some(
                        v.parse::<u16>()
                            .ok()
                            .filter(|p| *p > 0)
                            .ok_or_else(|| format!("--port needs a port number, got {v:?}"))?,
                    );
                }
                "--hostfile" => o.hostfile = Some(PathBuf::from(value(&arg)?)),
                "--ranks" => {
                    let v = value(&arg)?;
                    let ranks = v
                        .split(',')
                        .map(|r| r.trim().parse::<usize>())
                        .collect::<Result<Vec<_>, _>>()
                        .map_err(|_| format!("--ranks needs a list like 0,1, got {v:?}"))?;
                    o.ranks = Some(ranks);
                }
                "--timeout" => o.timeout = Some(secs("--timeout", value(&arg)?)?),
                "--grace" => o.grace = secs("--grace", value(&arg)?)?,
                "--gpus" => {
                    let v = value(&arg)?;
                    o.gpus = Some(
                        v.parse::<usize>()
                            .ok()
                            .filter(|g| *g > 0)
                            .ok_or_else(|| format!("--gpus needs a count, got {v:?}"))?,
                    );
                }
                "--verbose" => o.verbose = true,
                "--" => {
                    o.program = it.collect();
                    break;
                }
                other if other.starts_with('-') => return Err(format!("unknown option {other}")),
                _ => {
                    o.program = std::iter::once(OsString::from(arg)).chain(it).collect();
                    break;
                }
            }
        }
        if o.program.is_empty() {
            return Err("no program to run (put it after --)".into());
        }
        if o.hostfile.is_some() && o.backend == BackendOpt::Nccl {
            return Err("--hostfile is for the ring backend".into());
        }
        if o.ranks.is_some() && o.hostfile.is_none() {
            return Err("--ranks needs --hostfile".into());
        }
        if o.hostfile.is_none() && o.np.is_none() {
            return Err("say how many processes to start with -n".into());
        }
        Ok(Some(o))
    }

    /// A port the system says is free now (the ranks bind it moments later).
    fn free_port(host: &str) -> Result<u16, String> {
        TcpListener::bind((host, 0))
            .and_then(|l| l.local_addr())
            .map(|a| a.port())
            .map_err(|e| format!("cannot find a free port on {host}: {e}"))
    }

    /// The job's plan: per started rank, its environment.
    struct Plan {
        world: usize,
        ranks: Vec<usize>,
        env: Vec<Vec<(String, String)>>,
        /// A hostfile this launcher wrote and removes at the end.
        temp_file: Option<PathBuf>,
    }

    fn plan(o: &Options) -> Result<Plan, String> {
        let mut common: Vec<(String, String)> = Vec::new();
        if o.verbose {
            common.push(("MLX_RING_VERBOSE".into(), "1".into()));
        }
        let port_at = |i: usize| -> Result<u16, String> {
            match o.port {
                Some(p) => u16::try_from(usize::from(p) + i)
                    .map_err(|_| format!("--port {p} + {i} is past the last port")),
                None => free_port(&o.host),
            }
        };
        match o.backend {
            BackendOpt::Nccl => {
                let n = o.np.expect("checked");
                let port = port_at(0)?;
                // One GPU per rank, as MLX's own launcher does: MLX keeps
                // arrays on the process's first GPU and NCCL must use that one.
                let visible: Vec<String> = match std::env::var("CUDA_VISIBLE_DEVICES") {
                    Ok(v) if !v.trim().is_empty() => {
                        v.split(',').map(|d| d.trim().to_string()).collect()
                    }
                    _ => (0..o.gpus.unwrap_or(n)).map(|d| d.to_string()).collect(),
                };
                let env = (0..n)
                    .map(|r| {
                        let mut e = common.clone();
                        e.extend([
                            (
                                "CUDA_VISIBLE_DEVICES".into(),
                                visible[r % visible.len()].clone(),
                            ),
                            ("MLX_RANK".into(), r.to_string()),
                            ("MLX_WORLD_SIZE".into(), n.to_string()),
                            ("NCCL_HOST_IP".into(), o.host.clone()),
                            ("NCCL_PORT".into(), port.to_string()),
                        ]);
                        e
                    })
                    .collect();
                Ok(Plan {
                    world: n,
                    ranks: (0..n).collect(),
                    env,
                    temp_file: None,
                })
            }
            BackendOpt::Ring => {
                let (path, world, temp_file) = match &o.hostfile {
                    Some(path) => {
                        let h = Hostfile::read(path).map_err(|e| e.message())?;
                        if let Some(n) = o.np {
                            if n != h.len() {
                                return Err(format!(
                                    "-n {n} but the hostfile lists {} ranks",
                                    h.len()
                                ));
                            }
                        }
                        (path.clone(), h.len(), None)
                    }
                    None => {
                        let n = o.np.expect("checked");
                        if n < 2 {
                            return Err("a ring job needs at least 2 processes".into());
                        }
                        let addrs = (0..n)
                            .map(|i| Ok(vec![format!("{}:{}", o.host, port_at(i)?)]))
                            .collect::<Result<Vec<_>, String>>()?;
                        let h = Hostfile::new(addrs).map_err(|e| e.message())?;
                        let path = std::env::temp_dir().join(format!(
                            "mlx-launch-{}-{}.json",
                            std::process::id(),
                            std::time::SystemTime::now()
                                .duration_since(std::time::UNIX_EPOCH)
                                .map(|d| d.as_nanos())
                                .unwrap_or(0)
                        ));
                        std::fs::write(&path, h.to_json())
                            .map_err(|e| format!("cannot write {}: {e}", path.display()))?;
                        (path.clone(), n, Some(path))
                    }
                };
                let ranks = o.ranks.clone().unwrap_or_else(|| (0..world).collect());
                if let Some(bad) = ranks.iter().find(|&&r| r >= world) {
                    return Err(format!("rank {bad} is not in a job of {world}"));
                }
                let env = ranks
                    .iter()
                    .map(|r| {
                        let mut e = common.clone();
                        e.extend([
                            ("MLX_RANK".into(), r.to_string()),
                            ("MLX_HOSTFILE".into(), path.display().to_string()),
                            ("MLX_WORLD_SIZE".into(), world.to_string()),
                        ]);
                        e
                    })
                    .collect();
                Ok(Plan {
                    world,
                    ranks,
                    env,
                    temp_file,
                })
            }
        }
    }

    /// Copies `from` to `to` line by line, each line prefixed with `[rank] `.
    fn forward(
        rank: usize,
        from: impl Read + Send + 'static,
        to: Arc<Mutex<dyn Write + Send>>,
    ) -> JoinHandle<()> {
        std::thread::spawn(move || {
            let mut reader = BufReader::new(from);
            let mut line = Vec::new();
            loop {
                line.clear();
                match reader.read_until(b'\n', &mut line) {
                    Ok(0) | Err(_) => break,
                    Ok(_) => {
                        if !line.ends_with(b"\n") {
                            line.push(b'\n');
                        }
                        let mut out = to.lock().unwrap_or_else(|e| e.into_inner());
                        let _ = write!(out, "[{rank}] ");
                        let _ = out.write_all(&line);
                        let _ = out.flush();
                    }
                }
            }
        })
    }

    /// The signal that interrupted the launcher (0 while none did).
    static INTERRUPTED: AtomicI32 = AtomicI32::new(0);

    extern "C" fn on_signal(sig: libc::c_int) {
        INTERRUPTED.store(sig, Ordering::SeqCst);
    }

    fn install_signal_handlers() {
        for sig in [libc::SIGINT, libc::SIGTERM, libc::SIGHUP] {
            // SAFETY: the handler only stores to an atomic, which is
            // async-signal-safe; `sigaction` gets a fully initialized struct.
            unsafe {
                let mut action: libc::sigaction = std::mem::zeroed();
                action.sa_sigaction = on_signal as extern "C" fn(libc::c_int) as usize;
                libc::sigemptyset(&mut action.sa_mask);
                libc::sigaction(sig, &action, std::ptr::null_mut());
            }
        }
    }

    /// Sends `sig` to the process group led by `child` (each rank leads its
    /// own, so helpers it started are reached too).
    fn signal_group(child: &Child, sig: libc::c_int) {
        if let Ok(pid) = libc::pid_t::try_from(child.id()) {
            // SAFETY: plain system call on a process group this launcher
            // created; a group that is gone yields ESRCH, which is ignored.
            unsafe {
                libc::kill(-pid, sig);
            }
        }
    }

    fn describe(status: ExitStatus) -> String {
        match (status.code(), status.signal()) {
            (Some(c), _) => format!("exit code {c}"),
            (None, Some(s)) => format!("signal {s}"),
            _ => "an unknown status".into(),
        }
    }

    fn code_of(status: ExitStatus) -> i32 {
        match (status.code(), status.signal()) {
            (Some(0), _) => 1,
            (Some(c), _) => c,
            (None, Some(s)) => 128 + s,
            _ => 1,
        }
    }

    pub fn main() -> i32 {
        let options = match parse_args(std::env::args_os().skip(1).collect()) {
            Ok(Some(o)) => o,
            Ok(None) => {
                println!("{USAGE}");
                return 0;
            }
            Err(msg) => {
                eprintln!("mlx-launch: {msg}\n\n{USAGE}");
                return 2;
            }
        };
        let plan = match plan(&options) {
            Ok(p) => p,
            Err(msg) => {
                eprintln!("mlx-launch: {msg}");
                return 2;
            }
        };
        install_signal_handlers();
        let code = run(&options, &plan);
        if let Some(path) = &plan.temp_file {
            let _ = std::fs::remove_file(path);
        }
        code
    }

    fn run(o: &Options, plan: &Plan) -> i32 {
        let stdout: Arc<Mutex<dyn Write + Send>> = Arc::new(Mutex::new(std::io::stdout()));
        let stderr: Arc<Mutex<dyn Write + Send>> = Arc::new(Mutex::new(std::io::stderr()));
        let mut children: Vec<(usize, Child, Option<ExitStatus>)> = Vec::new();
        let mut readers = Vec::new();
        let started = Instant::now();
        let mut failure: Option<(usize, ExitStatus)> = None;
        let mut code = 0;

        for (rank, env) in plan.ranks.iter().zip(&plan.env) {
            let mut cmd = Command::new(&o.program[0]);
            cmd.args(&o.program[1..])
                .envs(env.iter().map(|(k, v)| (k, v)))
                .stdin(Stdio::null())
                .stdout(Stdio::piped())
                .stderr(Stdio::piped())
                .process_group(0);
            match cmd.spawn() {
                Ok(mut child) => {
                    if let Some(out) = child.stdout.take() {
                        readers.push(forward(*rank, out, stdout.clone()));
                    }
                    if let Some(err) = child.stderr.take() {
                        readers.push(forward(*rank, err, stderr.clone()));
                    }
                    children.push((*rank, child, None));
                }
                Err(e) => {
                    eprintln!(
                        "mlx-launch: cannot start {:?} for rank {rank}: {e}",
                        o.program[0]
                    );
                    code = 2;
                    break;
                }
            }
        }

        // Whether the remaining ranks are being stopped, and since when.
        let mut stopping: Option<(Instant, bool)> = if code != 0 {
            Some((Instant::now(), false))
        } else {
            None
        };
        let mut stop_deadline: Option<Instant> = None;
        loop {
            for (rank, child, status) in children.iter_mut() {
                if status.is_none() {
                    if let Ok(Some(s)) = child.try_wait() {
                        *status = Some(s);
                        if !s.success() && failure.is_none() && stopping.is_none() {
                            failure = Some((*rank, s));
                        }
                    }
                }
            }
            let running = children.iter().filter(|c| c.2.is_none()).count();
            if running == 0 {
                break;
            }
            let now = Instant::now();
            let sig = INTERRUPTED.load(Ordering::SeqCst);
            if stopping.is_none() {
                if sig != 0 {
                    eprintln!("mlx-launch: interrupted (signal {sig}); stopping the job");
                    code = 130;
                    stopping = Some((now, false));
                    stop_deadline = Some(now);
                } else if o.timeout.is_some_and(|t| now.duration_since(started) >= t) {
                    eprintln!(
                        "mlx-launch: the job ran past its time limit of {:.1} s; stopping {running} rank(s)",
                        o.timeout.expect("checked").as_secs_f64()
                    );
                    code = 124;
                    stopping = Some((now, false));
                    stop_deadline = Some(now);
                } else if let Some((rank, s)) = failure {
                    eprintln!(
                        "mlx-launch: rank {rank} failed ({}); stopping the other {running} rank(s) \
                         in at most {:.1} s",
                        describe(s),
                        o.grace.as_secs_f64()
                    );
                    code = code_of(s);
                    stopping = Some((now, false));
                    stop_deadline = Some(now + o.grace);
                }
            }
            if let (Some((since, terminated)), Some(deadline)) = (stopping.as_mut(), stop_deadline)
            {
                if now >= deadline && !*terminated {
                    // Ask politely first, then force after a second.
                    for (_, child, status) in children.iter() {
                        if status.is_none() {
                            signal_group(child, libc::SIGTERM);
                        }
                    }
                    *terminated = true;
                    *since = now;
                } else if *terminated && now.duration_since(*since) >= Duration::from_secs(1) {
                    for (_, child, status) in children.iter_mut() {
                        if status.is_none() {
                            signal_group(child, libc::SIGKILL);
                            let _ = child.kill();
                        }
                    }
                }
            }
            std::thread::sleep(Duration::from_millis(10));
        }
        if code == 0 {
            if let Some((rank, s)) = failure {
                eprintln!("mlx-launch: rank {rank} failed ({})", describe(s));
                code = code_of(s);
            }
        }
        // Every rank is reaped. A helper a rank started may still hold its
        // output open: forward what comes for a moment, then stop waiting.
        let until = Instant::now() + Duration::from_secs(2);
        while readers.iter().any(|r| !r.is_finished()) && Instant::now() < until {
            std::thread::sleep(Duration::from_millis(10));
        }
        for r in readers.into_iter().filter(|r| r.is_finished()) {
            let _ = r.join();
        }
        if code == 0 && plan.ranks.len() < plan.world {
            eprintln!(
                "mlx-launch: started ranks {:?} of {}; all succeeded",
                plan.ranks, plan.world
            );
        }
        code
    }
}
