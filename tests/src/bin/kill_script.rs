//! The child process of the kill-point test (`tests/tests/kill_points.rs`): runs the
//! script of `stepcache_tests::script` on the directory given as its argument, on its
//! main thread alone, so that every system call it makes can be counted and killed at.

fn main() {
    #[cfg(not(target_family = "wasm"))]
    {
        let Some(dir) = std::env::args_os().nth(1) else {
            eprintln!("usage: kill_script DIR");
            std::process::exit(2);
        };
        stepcache_tests::script::run(std::path::Path::new(&dir), &mut std::io::stdout().lock());
    }
}
