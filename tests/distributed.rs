//! Distributed jobs over loopback, started with `mlx-launch`: every
//! collective against a reference computed in f64 from every rank's inputs,
//! tensor- and data-parallel layers against their unsharded versions, and
//! faults (a peer dying mid-collective, wrong hostfiles, a port in use,
//! a job past its time limit) ending in bounded time with no process left.
//!
//! This file has its own `main` (`harness = false`): the same executable is
//! the test driver and, with `MLX_RS_DIST_WORKER` set, a rank of a job.
//! `cargo test --test distributed -- NAME` runs the cases whose name
//! contains NAME (`tests/common/harness.rs`).

mod common;

#[path = "../examples/support/dp_mlp.rs"]
mod dp_mlp;
#[path = "../examples/support/tensor_parallel.rs"]
mod tensor_parallel;

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::{Duration, Instant};

use mlx_rs::distributed::{self, Backend, Group};
use mlx_rs::{bf16, ops, Array, Dtype};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

const WORKER: &str = "MLX_RS_DIST_WORKER";
const SEED: &str = "MLX_RS_DIST_SEED";
const PID_DIR: &str = "MLX_RS_DIST_PIDS";

type Check = Result<(), String>;
type Case = common::harness::Case<()>;

fn main() {
    if let Ok(role) = std::env::var(WORKER) {
        std::process::exit(worker(&role));
    }
    let cases: &[Case] = &[
        ("ring2_collectives", || collectives_job(2)),
        ("ring4_collectives", || collectives_job(4)),
        ("ring2_tensor_parallel_flux_mlp", tensor_parallel_job),
        (
            "ring2_data_parallel_equals_single_process",
            data_parallel_job,
        ),
        ("fault_peer_dies_mid_collective", fault_peer_dies),
        ("fault_wrong_hostfile", fault_wrong_hostfile),
        ("fault_port_in_use", fault_port_in_use),
        ("fault_job_past_time_limit", fault_timeout),
        ("launcher_rejects_bad_options", launcher_bad_options),
    ];
    common::harness::run(cases);
}

// ---------------------------------------------------------------------------
// Driver side.

fn launcher() -> &'static str {
    env!("CARGO_BIN_EXE_mlx-launch")
}

/// A fresh directory for one job's files (pids, hostfiles).
fn job_dir(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!(
        "mlx-rs-dist-{name}-{}-{}",
        std::process::id(),
        rand::random::<u32>()
    ));
    std::fs::create_dir_all(&dir).expect("temp dir");
    dir
}

/// Runs `mlx-launch ARGS -- <this test binary>` with the worker `role`;
/// returns its output and how long it took.
fn launch(role: &str, dir: &Path, args: &[&str], seed: u64) -> (Output, Duration) {
    let start = Instant::now();
    let out = Command::new(launcher())
        .args(args)
        .arg("--")
        .arg(std::env::current_exe().expect("test executable"))
        .env(WORKER, role)
        .env(SEED, seed.to_string())
        .env(PID_DIR, dir)
        .output()
        .expect("mlx-launch starts");
    (out, start.elapsed())
}

fn text(out: &Output) -> String {
    format!(
        "status: {:?}\n--- stdout\n{}--- stderr\n{}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

/// Every worker that wrote its pid into `dir` must be gone (reaped, not a
/// zombie nor still running).
fn assert_no_survivors(dir: &Path) -> Check {
    let mut pids = Vec::new();
    for entry in std::fs::read_dir(dir).map_err(|e| e.to_string())? {
        let name = entry.map_err(|e| e.to_string())?.file_name();
        if let Some(pid) = name.to_str().and_then(|n| n.strip_prefix("pid-")) {
            pids.push(pid.to_string());
        }
    }
    for pid in &pids {
        // A reaped process has no /proc entry (its pid is not reused this fast).
        if let Ok(stat) = std::fs::read_to_string(format!("/proc/{pid}/stat")) {
            return Err(format!("worker {pid} is still there: {stat}"));
        }
    }
    if pids.is_empty() {
        return Err("no worker recorded its pid".into());
    }
    Ok(())
}

fn expect(cond: bool, what: impl FnOnce() -> String) -> Check {
    if cond {
        Ok(())
    } else {
        Err(what())
    }
}

fn successful_job(role: &str, n: usize, extra: &[&str]) -> Check {
    let dir = job_dir(role);
    let np = n.to_string();
    let mut args = vec!["-n", np.as_str(), "--timeout", "300"];
    args.extend_from_slice(extra);
    let seed: u64 = rand::random();
    let (out, took) = launch(role, &dir, &args, seed);
    let log = text(&out);
    expect(out.status.success(), || {
        format!("seed {seed}: job failed\n{log}")
    })?;
    let stdout = String::from_utf8_lossy(&out.stdout);
    for r in 0..n {
        let line = format!("[{r}] ok {role}");
        expect(stdout.contains(&line), || {
            format!("no `{line}` line\n{log}")
        })?;
    }
    assert_no_survivors(&dir)?;
    println!("  {role} over {n} ranks: {:.1} s", took.as_secs_f64());
    let _ = std::fs::remove_dir_all(&dir);
    Ok(())
}

fn collectives_job(n: usize) -> Check {
    successful_job("collectives", n, &[])
}

fn tensor_parallel_job() -> Check {
    successful_job("tensor_parallel", 2, &[])
}

fn data_parallel_job() -> Check {
    successful_job("data_parallel", 2, &[])
}

/// Rank 1 exits while both ranks are inside a large all_sum: rank 0 must
/// get `Err` and report it, the launcher must stop with rank 1's code.
fn fault_peer_dies() -> Check {
    let dir = job_dir("die");
    let (out, took) = launch(
        "die",
        &dir,
        &["-n", "2", "--timeout", "120", "--grace", "60"],
        1,
    );
    let log = text(&out);
    // Rank 1's death (128 + SIGKILL) or rank 0's Err (3), whichever the
    // launcher saw first.
    expect(matches!(out.status.code(), Some(137) | Some(3)), || {
        format!("want exit code 137 or 3\n{log}")
    })?;
    let stderr = String::from_utf8_lossy(&out.stderr);
    expect(stderr.contains("[0] rank 0 got Err:"), || {
        format!("rank 0 saw no Err\n{log}")
    })?;
    expect(stderr.contains("connection to a peer was lost"), || {
        format!("rank 0's Err is not MLX's ring message\n{log}")
    })?;
    // Rank 0 must notice by itself, well before the 60 s grace period.
    expect(took < Duration::from_secs(45), || {
        format!("took {took:?}\n{log}")
    })?;
    assert_no_survivors(&dir)
}

/// A hostfile whose rank 1 address is not on this host; then a malformed
/// one; then ranks given different hostfiles.
fn fault_wrong_hostfile() -> Check {
    let dir = job_dir("hostfile");
    let p0 = free_port();
    // 192.0.2.0/24 is reserved for documentation: never a local address.
    let bad = dir.join("bad.json");
    std::fs::write(
        &bad,
        format!(r#"[["127.0.0.1:{p0}"], ["192.0.2.1:{}"]]"#, free_port()),
    )
    .map_err(|e| e.to_string())?;
    let hf = bad.to_str().expect("utf-8 path");
    let (out, took) = launch("init_only", &dir, &["--hostfile", hf, "--timeout", "60"], 1);
    let log = text(&out);
    expect(!out.status.success(), || {
        format!("job with a foreign address succeeded\n{log}")
    })?;
    let stderr = String::from_utf8_lossy(&out.stderr);
    expect(
        stderr.contains("[1] rank 1 got Err:") && stderr.contains("cannot listen on 192.0.2.1"),
        || format!("rank 1 did not report its address\n{log}"),
    )?;
    expect(took < Duration::from_secs(30), || {
        format!("took {took:?}\n{log}")
    })?;
    assert_no_survivors(&dir)?;

    // Not JSON: the launcher refuses it before starting anything.
    let junk = dir.join("junk.json");
    std::fs::write(&junk, "[[\"127.0.0.1:1\"], oops").map_err(|e| e.to_string())?;
    let (out, _) = launch(
        "init_only",
        &dir,
        &["--hostfile", junk.to_str().unwrap()],
        1,
    );
    expect(out.status.code() == Some(2), || {
        format!("junk hostfile\n{}", text(&out))
    })?;
    expect(
        String::from_utf8_lossy(&out.stderr).contains("not valid JSON"),
        || text(&out),
    )?;

    // Each rank reads its own hostfile (the multi-host form, --ranks): the
    // two files list the same ports but different third ranks, so the sizes
    // differ and rank 0 must say so instead of connecting.
    let (a, b) = (free_port(), free_port());
    let f0 = dir.join("h0.json");
    let f1 = dir.join("h1.json");
    std::fs::write(&f0, format!(r#"[["127.0.0.1:{a}"], ["127.0.0.1:{b}"]]"#)).unwrap();
    std::fs::write(
        &f1,
        format!(
            r#"[["127.0.0.1:{a}"], ["127.0.0.1:{b}"], ["127.0.0.1:{}"]]"#,
            free_port()
        ),
    )
    .unwrap();
    let start = Instant::now();
    let spawn = |file: &Path, rank: &str| {
        Command::new(launcher())
            .args([
                "--hostfile",
                file.to_str().unwrap(),
                "--ranks",
                rank,
                "--timeout",
                "60",
            ])
            .arg("--")
            .arg(std::env::current_exe().unwrap())
            .env(WORKER, "init_only")
            .env(PID_DIR, &dir)
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .expect("mlx-launch starts")
    };
    let r0 = spawn(&f0, "0");
    let r1 = spawn(&f1, "1");
    let (o0, o1) = (
        r0.wait_with_output().unwrap(),
        r1.wait_with_output().unwrap(),
    );
    let log = format!("{}\n{}", text(&o0), text(&o1));
    expect(!o0.status.success() && !o1.status.success(), || {
        format!("mismatch accepted\n{log}")
    })?;
    expect(
        log.contains("different hostfile") || log.contains("differs"),
        || format!("no mismatch message\n{log}"),
    )?;
    expect(start.elapsed() < Duration::from_secs(40), || {
        format!("too slow\n{log}")
    })?;
    assert_no_survivors(&dir)?;
    let _ = std::fs::remove_dir_all(&dir);
    Ok(())
}

/// Rank 0's port is held by another socket: rank 0 fails at once, rank 1
/// gives up within its init timeout, nothing hangs.
fn fault_port_in_use() -> Check {
    let dir = job_dir("port");
    let holder = std::net::TcpListener::bind("127.0.0.1:0").map_err(|e| e.to_string())?;
    let held = holder.local_addr().unwrap().port();
    let file = dir.join("hosts.json");
    std::fs::write(
        &file,
        format!(r#"[["127.0.0.1:{held}"], ["127.0.0.1:{}"]]"#, free_port()),
    )
    .unwrap();
    let (out, took) = launch(
        "init_only",
        &dir,
        &[
            "--hostfile",
            file.to_str().unwrap(),
            "--timeout",
            "60",
            "--grace",
            "30",
        ],
        1,
    );
    drop(holder);
    let log = text(&out);
    expect(!out.status.success(), || {
        format!("succeeded on a busy port\n{log}")
    })?;
    let stderr = String::from_utf8_lossy(&out.stderr);
    expect(
        stderr.contains(&format!("cannot listen on 127.0.0.1:{held}")),
        || format!("rank 0 did not name the busy port\n{log}"),
    )?;
    // Rank 1's init timeout is 10 s (see `worker`): both end by themselves.
    expect(stderr.contains("[1] rank 1 got Err:"), || {
        format!("rank 1 did not give up\n{log}")
    })?;
    expect(took < Duration::from_secs(25), || {
        format!("took {took:?}\n{log}")
    })?;
    assert_no_survivors(&dir)
}

/// Ranks that never finish are stopped at the time limit (exit code 124).
fn fault_timeout() -> Check {
    let dir = job_dir("timeout");
    let (out, took) = launch("hang", &dir, &["-n", "2", "--timeout", "3"], 1);
    let log = text(&out);
    expect(out.status.code() == Some(124), || {
        format!("want 124\n{log}")
    })?;
    expect(
        String::from_utf8_lossy(&out.stderr).contains("time limit"),
        || log.clone(),
    )?;
    expect(took < Duration::from_secs(10), || {
        format!("took {took:?}\n{log}")
    })?;
    assert_no_survivors(&dir)
}

fn launcher_bad_options() -> Check {
    for args in [
        &["-n", "2"][..],
        &["-n", "zero", "--", "true"],
        &["--backend", "tcp", "-n", "2", "--", "true"],
        &["--ranks", "0", "--", "true"],
        &["-n", "1", "--", "true"],
        &["--bogus", "--", "true"],
    ] {
        let out = Command::new(launcher()).args(args).output().expect("runs");
        expect(out.status.code() == Some(2), || {
            format!("{args:?}: {}", text(&out))
        })?;
        expect(
            String::from_utf8_lossy(&out.stderr).starts_with("mlx-launch: "),
            || format!("{args:?}: no message\n{}", text(&out)),
        )?;
    }
    // A program that cannot be started.
    let out = Command::new(launcher())
        .args(["-n", "2", "--", "/nonexistent/program"])
        .output()
        .expect("runs");
    expect(out.status.code() == Some(2), || text(&out))?;
    // The exit code of a failing rank comes back.
    let out = Command::new(launcher())
        .args([
            "-n",
            "2",
            "--",
            "sh",
            "-c",
            "echo hi; exit $((MLX_RANK + 3))",
        ])
        .output()
        .expect("runs");
    expect(
        out.status.code() == Some(3) || out.status.code() == Some(4),
        || text(&out),
    )?;
    let stdout = String::from_utf8_lossy(&out.stdout);
    expect(
        stdout.contains("[0] hi") && stdout.contains("[1] hi"),
        || text(&out),
    )?;
    Ok(())
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free port")
}

// ---------------------------------------------------------------------------
// Worker side: one rank of a job.

fn worker(role: &str) -> i32 {
    if let Some(dir) = std::env::var_os(PID_DIR) {
        let _ = std::fs::write(
            Path::new(&dir).join(format!("pid-{}", std::process::id())),
            "",
        );
    }
    let rank = std::env::var("MLX_RANK").unwrap_or_default();
    let result = match role {
        "collectives" => run_collectives(),
        "tensor_parallel" => run_tensor_parallel(),
        "data_parallel" => run_data_parallel(),
        "die" => run_die(),
        "init_only" => Group::init_timeout(Backend::Ring, Duration::from_secs(10))
            .map(|_| ())
            .map_err(|e| e.to_string()),
        "hang" => loop {
            std::thread::sleep(Duration::from_secs(1));
        },
        other => Err(format!("unknown worker role {other}")),
    };
    match result {
        Ok(()) => {
            println!("ok {role}");
            0
        }
        Err(msg) => {
            eprintln!("rank {rank} got Err: {msg}");
            3
        }
    }
}

fn seed() -> u64 {
    std::env::var(SEED)
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(1)
}

fn e2s(e: mlx_rs::Error) -> String {
    e.to_string()
}

#[derive(Clone, Copy, Debug)]
enum Kind {
    F32,
    Bf16,
    I32,
}

/// Rank `rank`'s input of `n` elements for case `case`: values exactly
/// representable in `kind`, drawn from the job's seed, so any rank can
/// recompute every rank's input.
fn input(kind: Kind, case: u64, rank: usize, n: usize) -> Vec<f64> {
    let mut rng = StdRng::seed_from_u64(seed() ^ (case << 20) ^ ((rank as u64) << 8) ^ kind as u64);
    (0..n)
        .map(|_| match kind {
            Kind::F32 => f64::from(rng.gen_range(-1.0f32..1.0)),
            Kind::Bf16 => f64::from(bf16::from_f32(rng.gen_range(-1.0f32..1.0)).to_f32()),
            Kind::I32 => f64::from(rng.gen_range(-1000i32..1000)),
        })
        .collect()
}

fn to_array(kind: Kind, v: &[f64], shape: &[i32]) -> Result<Array, String> {
    match kind {
        Kind::F32 => Array::from_slice(&v.iter().map(|&x| x as f32).collect::<Vec<_>>(), shape),
        Kind::Bf16 => Array::from_slice(
            &v.iter().map(|&x| bf16::from_f64(x)).collect::<Vec<_>>(),
            shape,
        ),
        Kind::I32 => Array::from_slice(&v.iter().map(|&x| x as i32).collect::<Vec<_>>(), shape),
    }
    .map_err(e2s)
}

fn read(kind: Kind, a: &Array) -> Result<Vec<f64>, String> {
    Ok(match kind {
        Kind::F32 => a
            .to_vec::<f32>()
            .map_err(e2s)?
            .iter()
            .map(|&x| f64::from(x))
            .collect(),
        Kind::Bf16 => a
            .to_vec::<bf16>()
            .map_err(e2s)?
            .iter()
            .map(|x| x.to_f64())
            .collect(),
        Kind::I32 => a
            .to_vec::<i32>()
            .map_err(e2s)?
            .iter()
            .map(|&x| f64::from(x))
            .collect(),
    })
}

/// Compares element-wise; `scale[i]` bounds the rounding of element `i`
/// (the sum of the magnitudes that went into it).
fn compare(what: &str, kind: Kind, got: &[f64], want: &[f64], scale: &[f64]) -> Check {
    if got.len() != want.len() {
        return Err(format!(
            "{what}: {} elements, want {}",
            got.len(),
            want.len()
        ));
    }
    // f32: a handful of roundings of 2^-24 each. bf16: the ring adds in bf16,
    // one rounding of 2^-8 (half an ulp) per step plus the final store, so at
    // most (size) * 2^-8 of the summed magnitudes for up to 4 ranks.
    let rtol = match kind {
        Kind::F32 => 1e-5,
        Kind::Bf16 => 4.0 * 2f64.powi(-8),
        Kind::I32 => 0.0,
    };
    for (i, ((g, w), s)) in got.iter().zip(want).zip(scale).enumerate() {
        if (g - w).abs() > rtol * s.max(1e-30) && g != w {
            return Err(format!("{what}: element {i} is {g}, want {w} (scale {s})"));
        }
    }
    Ok(())
}

fn run_collectives() -> Check {
    let g = Group::init_timeout(Backend::Ring, Duration::from_secs(60)).map_err(e2s)?;
    let (rank, size) = (g.rank(), g.size());
    let n_env: usize = std::env::var("MLX_WORLD_SIZE").unwrap().parse().unwrap();
    expect(size == n_env && g.backend() == Some(Backend::Ring), || {
        format!("{g:?}")
    })?;
    // Initializing again returns the same job.
    let again = Group::init(Backend::Any).map_err(e2s)?;
    expect(again.rank() == rank && again.size() == size, || {
        format!("{again:?}")
    })?;

    // Uneven lengths (not a multiple of the size, fewer elements than ranks,
    // several of MLX's 256 KiB-per-rank pieces), scalars and empty arrays.
    let shapes: Vec<Vec<i32>> = vec![
        vec![],
        vec![0],
        vec![1],
        vec![3],
        vec![7, 3],
        vec![1001],
        vec![0, 5],
        vec![300_001],
    ];
    for kind in [Kind::F32, Kind::Bf16, Kind::I32] {
        for (case, shape) in shapes.iter().enumerate() {
            let n: usize = shape.iter().map(|&d| d as usize).product();
            let all: Vec<Vec<f64>> = (0..size).map(|r| input(kind, case as u64, r, n)).collect();
            let x = to_array(kind, &all[rank], shape)?;
            let tag = format!("{kind:?} {shape:?}");

            let sum = read(kind, &distributed::all_sum(&x, &g).map_err(e2s)?)?;
            let want: Vec<f64> = (0..n).map(|i| all.iter().map(|v| v[i]).sum()).collect();
            let scale: Vec<f64> = (0..n)
                .map(|i| all.iter().map(|v| v[i].abs()).sum())
                .collect();
            compare(&format!("all_sum {tag}"), kind, &sum, &want, &scale)?;

            let max = read(kind, &distributed::all_max(&x, &g).map_err(e2s)?)?;
            let want: Vec<f64> = (0..n)
                .map(|i| all.iter().map(|v| v[i]).fold(f64::MIN, f64::max))
                .collect();
            compare(&format!("all_max {tag}"), Kind::I32, &max, &want, &scale)?;

            let min = read(kind, &distributed::all_min(&x, &g).map_err(e2s)?)?;
            let want: Vec<f64> = (0..n)
                .map(|i| all.iter().map(|v| v[i]).fold(f64::MAX, f64::min))
                .collect();
            compare(&format!("all_min {tag}"), Kind::I32, &min, &want, &scale)?;

            let gathered = distributed::all_gather(&x, &g).map_err(e2s)?;
            let mut want_shape = shape.clone();
            match want_shape.first_mut() {
                Some(d) => *d *= size as i32,
                None => want_shape.push(size as i32),
            }
            expect(gathered.shape() == want_shape, || {
                format!("all_gather {tag}: shape {:?}", gathered.shape())
            })?;
            let want: Vec<f64> = all.concat();
            compare(
                &format!("all_gather {tag}"),
                Kind::I32,
                &read(kind, &gathered)?,
                &want,
                &want,
            )?;
        }

        // sum_scatter: axis 0 divides by the size (with uneven rows per
        // rank otherwise rejected).
        let rows = 3 * size as i32;
        let n = (rows * 5) as usize;
        let all: Vec<Vec<f64>> = (0..size).map(|r| input(kind, 99, r, n)).collect();
        let x = to_array(kind, &all[rank], &[rows, 5])?;
        let part = distributed::sum_scatter(&x, &g).map_err(e2s)?;
        expect(part.shape() == [3, 5], || {
            format!("sum_scatter shape {:?}", part.shape())
        })?;
        let lo = rank * 15;
        let want: Vec<f64> = (lo..lo + 15)
            .map(|i| all.iter().map(|v| v[i]).sum())
            .collect();
        let scale: Vec<f64> = (lo..lo + 15)
            .map(|i| all.iter().map(|v| v[i].abs()).sum())
            .collect();
        compare(
            &format!("sum_scatter {kind:?}"),
            kind,
            &read(kind, &part)?,
            &want,
            &scale,
        )?;
        let odd = to_array(kind, &input(kind, 98, rank, rows as usize + 1), &[rows + 1])?;
        expect(distributed::sum_scatter(&odd, &g).is_err(), || {
            "indivisible sum_scatter".into()
        })?;

        // send / recv around the ring, to the right then to the left; even
        // ranks send first so that large messages cannot deadlock.
        for (dir, n) in [(1usize, 100_003usize), (size - 1, 17)] {
            let dst = (rank + dir) % size;
            let src = (rank + size - dir) % size;
            let x = to_array(kind, &input(kind, 200 + dir as u64, rank, n), &[n as i32])?;
            let sent = distributed::send(&x, dst, &g).map_err(e2s)?;
            let dtype = x.dtype();
            let got = if rank % 2 == 0 {
                sent.eval().map_err(e2s)?;
                let r = distributed::recv(&[n as i32], dtype, src, &g).map_err(e2s)?;
                r.eval().map_err(e2s)?;
                r
            } else {
                let r = distributed::recv_like(&x, src, &g).map_err(e2s)?;
                r.eval().map_err(e2s)?;
                sent.eval().map_err(e2s)?;
                r
            };
            let want = input(kind, 200 + dir as u64, src, n);
            compare(
                &format!("recv {kind:?} from {src}"),
                Kind::I32,
                &read(kind, &got)?,
                &want,
                &want,
            )?;
        }
    }

    // A transposed (non-contiguous) input and an explicit CPU stream.
    let all: Vec<Vec<f64>> = (0..size).map(|r| input(Kind::F32, 300, r, 12)).collect();
    let x = ops::transpose(&to_array(Kind::F32, &all[rank], &[3, 4])?).map_err(e2s)?;
    let cpu = mlx_rs::Device::cpu();
    let s = read(
        Kind::F32,
        &distributed::all_sum_on(&x, &g, &cpu).map_err(e2s)?,
    )?;
    let want: Vec<f64> = (0..12)
        .map(|i| {
            let (r, c) = (i / 3, i % 3); // element (r, c) of the [4, 3] transpose
            all.iter().map(|v| v[c * 4 + r]).sum()
        })
        .collect();
    let scale: Vec<f64> = want.iter().map(|w| w.abs() + 4.0).collect();
    compare("all_sum of a transpose", Kind::F32, &s, &want, &scale)?;

    // Misuse is an Err at once, on every rank alike.
    let x = Array::from_slice(&[1.0f32], &[1]).map_err(e2s)?;
    expect(distributed::send(&x, rank, &g).is_err(), || {
        "send to self".into()
    })?;
    expect(distributed::send(&x, size, &g).is_err(), || {
        "send out of range".into()
    })?;
    expect(
        distributed::recv(&[1], Dtype::Float32, size + 3, &g).is_err(),
        || "recv out of range".into(),
    )?;
    if size > 3 {
        let far = (rank + 2) % size;
        let err = distributed::send(&x, far, &g)
            .err()
            .map(|e| e.to_string())
            .unwrap_or_default();
        expect(err.contains("neighbours"), || {
            format!("send to non-neighbour: {err:?}")
        })?;
    }
    expect(g.split(0, None).is_err(), || "the ring cannot split".into())?;
    expect(Group::init(Backend::Nccl).is_err(), || {
        "NCCL without a GPU".into()
    })?;
    Ok(())
}

fn run_tensor_parallel() -> Check {
    use tensor_parallel::*;
    let g = Group::init_timeout(Backend::Ring, Duration::from_secs(60)).map_err(e2s)?;
    let mut rng = StdRng::seed_from_u64(seed());
    let (tokens, h) = (5usize, 64usize);
    let mut rand =
        |n: usize, s: f32| -> Vec<f32> { (0..n).map(|_| rng.gen_range(-s..s)).collect() };
    let x = rand(tokens * h, 1.0);
    let w1 = rand(4 * h * h, 0.2);
    let b1 = rand(4 * h, 0.2);
    let w2 = rand(h * 4 * h, 0.1);
    let b2 = rand(h, 0.1);
    let arr = |v: &[f32], s: &[i32]| Array::from_slice(v, s).map_err(e2s);
    let (hi, h4) = (h as i32, 4 * h as i32);
    let mlp = FluxMlp {
        w1: arr(&w1, &[h4, hi])?,
        b1: arr(&b1, &[h4])?,
        w2: arr(&w2, &[hi, h4])?,
        b2: arr(&b2, &[hi])?,
    };
    let xa = arr(&x, &[tokens as i32, hi])?;

    // f64 reference of the unsharded MLP.
    let f = |v: &[f32]| v.iter().map(|&a| f64::from(a)).collect::<Vec<_>>();
    let (x64, w164, w264) = (f(&x), f(&w1), f(&w2));
    let mut want = vec![0f64; tokens * h];
    let mut scale = vec![0f64; tokens * h];
    for t in 0..tokens {
        let hidden: Vec<f64> = (0..4 * h)
            .map(|j| {
                let z = f64::from(b1[j])
                    + (0..h)
                        .map(|k| x64[t * h + k] * w164[j * h + k])
                        .sum::<f64>();
                let c = (2.0 / std::f64::consts::PI).sqrt();
                0.5 * z * (1.0 + (c * (z + 0.044715 * z * z * z)).tanh())
            })
            .collect();
        for o in 0..h {
            let terms = (0..4 * h).map(|j| hidden[j] * w264[o * 4 * h + j]);
            want[t * h + o] = f64::from(b2[o]) + terms.clone().sum::<f64>();
            scale[t * h + o] = f64::from(b2[o].abs()) + terms.map(f64::abs).sum::<f64>();
        }
    }
    let full = read(Kind::F32, &mlp.forward(&xa).map_err(e2s)?)?;
    compare("unsharded FLUX MLP vs f64", Kind::F32, &full, &want, &scale)?;
    let sharded = mlp.shard(&g).map_err(e2s)?;
    expect(sharded.fc1.weight.shape() == [h4 / 2, hi], || {
        "fc1 shard shape".into()
    })?;
    expect(sharded.fc2.weight.shape() == [hi, h4 / 2], || {
        "fc2 shard shape".into()
    })?;
    let out = read(Kind::F32, &sharded.forward(&xa, &g).map_err(e2s)?)?;
    compare("sharded FLUX MLP vs f64", Kind::F32, &out, &want, &scale)?;
    compare(
        "sharded vs unsharded FLUX MLP",
        Kind::F32,
        &out,
        &full,
        &scale,
    )?;

    // A column-parallel layer with gathered output equals the full layer.
    let col = ColumnParallelLinear::from_full(&mlp.w1, Some(&mlp.b1), &g, true).map_err(e2s)?;
    let got = read(Kind::F32, &col.forward(&xa, &g).map_err(e2s)?)?;
    let full1 = read(
        Kind::F32,
        &linear(&xa, &mlp.w1, Some(&mlp.b1)).map_err(e2s)?,
    )?;
    let s1: Vec<f64> = full1.iter().map(|v| v.abs() + 1.0).collect();
    compare("column-parallel gathered", Kind::F32, &got, &full1, &s1)?;
    // bf16 weights and activations, against the f64 reference.
    let b = |a: &Array| a.astype(Dtype::Bfloat16).map_err(e2s);
    let mlp16 = FluxMlp {
        w1: b(&mlp.w1)?,
        b1: b(&mlp.b1)?,
        w2: b(&mlp.w2)?,
        b2: b(&mlp.b2)?,
    };
    let out16 = read(
        Kind::Bf16,
        &mlp16
            .shard(&g)
            .map_err(e2s)?
            .forward(&b(&xa)?, &g)
            .map_err(e2s)?,
    )?;
    // bf16 inputs and products: a few percent of the summed magnitudes.
    for (i, (o, w)) in out16.iter().zip(&want).enumerate() {
        expect((o - w).abs() <= 0.03 * scale[i] + 1e-3, || {
            format!("bf16 element {i}: {o} vs {w}")
        })?;
    }
    Ok(())
}

fn run_data_parallel() -> Check {
    use dp_mlp::*;
    let g = Group::init_timeout(Backend::Ring, Duration::from_secs(60)).map_err(e2s)?;
    let (rank, size) = (g.rank(), g.size());
    let mut rng = StdRng::seed_from_u64(seed());
    // An uneven split: 37 rows over the ranks.
    let (batch, inputs, classes) = (37usize, 16usize, 4usize);
    let xs: Vec<f32> = (0..batch * inputs)
        .map(|_| rng.gen_range(-1.0..1.0))
        .collect();
    let ys: Vec<i32> = (0..batch)
        .map(|_| rng.gen_range(0..classes as i32))
        .collect();
    let rows = |lo: usize, hi: usize| -> Result<(Array, Array), String> {
        Ok((
            Array::from_slice(
                &xs[lo * inputs..hi * inputs],
                &[(hi - lo) as i32, inputs as i32],
            )
            .map_err(e2s)?,
            Array::from_slice(&ys[lo..hi], &[(hi - lo) as i32]).map_err(e2s)?,
        ))
    };
    let (lo, hi) = (rank * batch / size, (rank + 1) * batch / size);
    let (x, y) = rows(lo, hi)?;
    let (x_all, y_all) = rows(0, batch)?;
    let vg = loss_and_grad().map_err(e2s)?;
    let model_seed = seed() ^ 0x5eed;
    let mut dp = Mlp::new(inputs as i32, 32, classes as i32, model_seed).map_err(e2s)?;
    let mut single = Mlp::new(inputs as i32, 32, classes as i32, model_seed).map_err(e2s)?;
    for step in 0..5 {
        let l_dp = sgd_step(&mut dp, &vg, &x, &y, batch, 0.5, Some(&g)).map_err(e2s)?;
        let l_one = sgd_step(&mut single, &vg, &x_all, &y_all, batch, 0.5, None).map_err(e2s)?;
        expect((l_dp - l_one).abs() <= 1e-5 * l_one.abs(), || {
            format!("step {step}: loss {l_dp} (data parallel) vs {l_one}")
        })?;
    }
    for (i, (a, b)) in dp.params.iter().zip(&single.params).enumerate() {
        let (a, b) = (read(Kind::F32, a)?, read(Kind::F32, b)?);
        let top = b.iter().fold(0f64, |m, v| m.max(v.abs()));
        let scale = vec![top; b.len()];
        compare(
            &format!("parameter {i} after 5 steps"),
            Kind::F32,
            &a,
            &b,
            &scale,
        )?;
    }
    Ok(())
}

/// Both ranks loop over large all_sums; rank 1 leaves in the middle of one.
fn run_die() -> Check {
    let g = Group::init_timeout(Backend::Ring, Duration::from_secs(60)).map_err(e2s)?;
    let x = ops::ones(&[16 << 20], Dtype::Float32).map_err(e2s)?;
    x.eval().map_err(e2s)?;
    if g.rank() == 1 {
        std::thread::spawn(|| {
            std::thread::sleep(Duration::from_millis(300));
            // SAFETY: plain system call; the process ends here, as a crash would end it.
            unsafe { libc::kill(libc::getpid(), libc::SIGKILL) };
        });
    }
    for _ in 0..10_000 {
        distributed::all_sum(&x, &g)
            .and_then(|s| s.eval())
            .map_err(e2s)?;
    }
    Err("the peer never died".into())
}
