//! Fills a cache directory with about `MIB` MiB of float maps, for the command-line
//! benchmark (`adapters/cli/bench.sh`): four fifths in 4 MiB maps, the rest in 100 KiB
//! ones, as a pipeline's volumes and previews.
//!
//! Usage: `cargo run --release -p stepcache-cli --example fill -- DIR MIB`

use stepcache::{Cache, Key, Value};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let (Some(dir), Some(mib)) = (args.next(), args.next()) else {
        return Err("usage: fill DIR MIB".into());
    };
    let mib: u64 = mib.parse()?;
    let cache = Cache::builder().dir(&dir).memory_budget(0).open()?;
    let large = (mib * 4 / 5) / 4;
    let small = (mib - large * 4) * 1024 / 100;
    // Distinct, incompressible-looking values (a linear congruential sequence).
    let mut seed = 0x2545_f491_4f6c_dd1d_u64;
    let mut map = |floats: usize| {
        let data: Vec<f32> = (0..floats)
            .map(|_| {
                seed = seed
                    .wrapping_mul(6_364_136_223_846_793_005)
                    .wrapping_add(1_442_695_040_888_963_407);
                (seed >> 40) as f32
            })
            .collect();
        Value::array(data, &[floats])
    };
    for n in 0..large {
        let key = Key::of("volume").arg("n", n).build()?;
        cache.put_with_cost(&key, map(1 << 20)?, 2_000_000)?;
    }
    for n in 0..small {
        let key = Key::of("preview").arg("n", n).build()?;
        cache.put_with_cost(&key, map(25_600)?, 50_000)?;
    }
    println!("{large} maps of 4 MiB and {small} of 100 KiB in {dir}");
    Ok(())
}
