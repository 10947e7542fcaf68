//! The child process of the kill-point test (`tests/tests/kill_points.rs`): runs the
//! script of `stepcache_tests::script` on the directory given as its first argument,
//! importing the bundle given as its second, on its main thread alone, so that every
//! system call it makes can be counted and killed at.

fn main() {
    #[cfg(not(target_family = "wasm"))]
    {
        let (Some(dir), Some(bundle)) = (std::env::args_os().nth(1), std::env::args_os().nth(2)) else {
            eprintln!("usage: kill_script DIR BUNDLE");
            std::process::exit(2);
        };
        stepcache_tests::script::run(
            std::path::Path::new(&dir),
            std::path::Path::new(&bundle),
            &mut std::io::stdout().lock(),
        );
    }
}
