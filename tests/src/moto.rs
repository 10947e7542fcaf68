//! A second S3 server for the shared tier's tests: moto's server (PyPI `moto[server]`), an
//! S3 emulator with conditional writes, started on 127.0.0.1 on a free port with the
//! bucket [`BUCKET`] made, stopped when dropped. The conformance suite and the lease test
//! run on it as on SeaweedFS, so the object store is not tested against one engine only.
//!
//! `tests/setup.sh` installs it into `target/moto/`; `STEPCACHE_MOTO` names another
//! `moto_server`.

use std::net::{SocketAddr, TcpListener};
use std::path::PathBuf;
use std::time::{Duration, Instant};

use crate::seaweed::BUCKET;
use crate::server::{Lifeline, status};
use crate::temp::TempDir;

/// A running moto server (any credentials are accepted), stopped when dropped.
#[derive(Debug)]
pub struct Moto {
    _server: Lifeline,
    /// The S3 endpoint, `http://127.0.0.1:<port>`.
    pub endpoint: String,
    /// Holds its log.
    pub dir: TempDir,
}

/// The `moto_server` program: `STEPCACHE_MOTO`, or the one `tests/setup.sh` installs.
fn moto_server() -> PathBuf {
    if let Some(path) = std::env::var_os("STEPCACHE_MOTO") {
        return PathBuf::from(path);
    }
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../target/moto/bin/moto_server")
}

impl Moto {
    /// Starts a server and makes the bucket (about 2 s). Panics, saying why, if the
    /// program is missing or the server does not answer within 60 s.
    pub fn start(name: &str) -> Self {
        let program = moto_server();
        assert!(
            program.exists(),
            "{} is missing: run bash tests/setup.sh (it installs moto[server] from PyPI) or set STEPCACHE_MOTO",
            program.display()
        );
        let dir = TempDir::new(&format!("moto-{name}"));
        std::fs::create_dir_all(&dir.0).expect("make the log directory");
        let port = TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .expect("a free port")
            .port();
        let args = [
            "-H".to_owned(),
            "127.0.0.1".to_owned(),
            "-p".to_owned(),
            port.to_string(),
        ];
        let server = Lifeline::spawn(&program, &args, &dir.0.join("moto.log"));
        let address = SocketAddr::from(([127, 0, 0, 1], port));
        let start = Instant::now();
        // Making the bucket is also the sign that the server is up.
        while status(address, "PUT", &format!("/{BUCKET}")).as_deref() != Some("200") {
            if start.elapsed() > Duration::from_secs(60) {
                let log = std::fs::read_to_string(dir.0.join("moto.log")).unwrap_or_default();
                panic!("moto did not come up within 60 s; its log:\n{log}");
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        Moto {
            _server: server,
            endpoint: format!("http://127.0.0.1:{port}"),
            dir,
        }
    }
}
