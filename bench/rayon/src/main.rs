//! bench_rayon WORKLOAD WORKERS [PARAM]: rayon under make bench's protocol
//! (one RESULT line, as bench/workloads.c prints). Only fork-join is
//! measured: fib(n) with one rayon::join per call, the reference the issue
//! compares rail_join with. Other workloads print na=1.

use std::time::Instant;

fn fib_join(n: u32) -> u64 {
    if n < 2 {
        return n as u64;
    }
    let (a, b) = rayon::join(|| fib_join(n - 1), || fib_join(n - 2));
    a + b
}

#[inline(never)]
fn fib_seq(n: u32) -> u64 {
    if n < 2 {
        n as u64
    } else {
        fib_seq(n - 1) + fib_seq(n - 2)
    }
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    if args.len() < 3 {
        eprintln!("usage: {} WORKLOAD WORKERS [PARAM]", args[0]);
        std::process::exit(2);
    }
    let workload = args[1].as_str();
    let workers: usize = args[2].parse().expect("WORKERS");
    let param: u32 = args.get(3).and_then(|p| p.parse().ok()).unwrap_or(0);
    if workload != "fib" {
        println!("RESULT system=rayon workload={} workers={} na=1", workload, workers);
        return;
    }
    let n = if param != 0 { param } else { 32 };
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(workers)
        .build()
        .expect("thread pool");
    let t0 = Instant::now();
    let expect = fib_seq(n);
    let seq = t0.elapsed().as_nanos() as f64;
    let t0 = Instant::now();
    let got = pool.install(|| fib_join(n));
    let par = t0.elapsed().as_nanos() as f64;
    if got != expect {
        eprintln!("bench_rayon: wrong fib");
        std::process::exit(1);
    }
    let tasks = 2 * fib_seq(n + 1) - 1; // one task per call
    println!(
        "RESULT system=rayon workload=fib how=\"rayon::join\" workers={} n={} tasks={} ms={:.3} \
         seq_ms={:.3} ns_per_task={:.2} speedup={:.3}",
        workers,
        n,
        tasks,
        par / 1e6,
        seq / 1e6,
        par / tasks as f64,
        seq / par
    );
}
