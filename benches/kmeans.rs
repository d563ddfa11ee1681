//! k-means benchmark, our side: fit linfa k-means (as `crm-mart segment` does) on points written by
//! `benches/baselines/kmeans_sklearn.py`, print fit time and inertia.
//!
//! usage: cargo bench --bench kmeans -- POINTS.f64 DIMS K N_RUNS SEED

use std::time::Instant;

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let args: Vec<&String> = args
        .iter()
        .skip(1)
        .filter(|a| !a.starts_with("--"))
        .collect();
    if args.len() < 5 {
        eprintln!("usage: kmeans POINTS.f64 DIMS K N_RUNS SEED");
        std::process::exit(1);
    }
    let bytes = std::fs::read(args[0]).expect("points file");
    let dims: usize = args[1].parse().expect("dims");
    let k: usize = args[2].parse().expect("k");
    let n_runs: usize = args[3].parse().expect("n_runs");
    let seed: u64 = args[4].parse().expect("seed");
    let values: Vec<f64> = bytes
        .chunks_exact(8)
        .map(|c| f64::from_le_bytes(c.try_into().expect("8 bytes")))
        .collect();
    let n = values.len() / dims;
    let x = ndarray::Array2::from_shape_vec((n, dims), values).expect("shape");
    let t = Instant::now();
    let (_, inertia, _) = crm_mart::ml::segment::kmeans(&x, k, seed, n_runs).expect("k-means");
    println!(
        "crm-mart(linfa) fit_s={:.3} inertia={inertia:.6e} n={n} dims={dims} k={k} n_runs={n_runs}",
        t.elapsed().as_secs_f64()
    );
}
