//! What the test servers (SeaweedFS, moto) share: a process that dies with its tests, and
//! bare HTTP requests to see when it is up.

use std::io::Read;
use std::net::{SocketAddr, TcpStream};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::time::Duration;

/// A server process run under a shell that kills it (SIGKILL, as a crash would) when its
/// standard input closes: when this value is dropped, or when the test process ends in any
/// way (a server kept in a `static` is never dropped), so no server outlives its tests.
#[derive(Debug)]
pub struct Lifeline {
    child: Child,
    stdin: Option<ChildStdin>,
}

impl Lifeline {
    /// Starts `program` with `args`, its output into `log`.
    pub fn spawn(program: &std::path::Path, args: &[String], log: &std::path::Path) -> Self {
        let log = std::fs::File::create(log).expect("create the server's log");
        let mut child = Command::new("sh")
            .arg("-c")
            .arg(r#""$0" "$@" & server=$!; cat > /dev/null; kill -9 $server; wait $server"#)
            .arg(program)
            .args(args)
            .stdout(log.try_clone().expect("clone the log"))
            .stderr(log)
            .stdin(Stdio::piped())
            .spawn()
            .unwrap_or_else(|e| panic!("start {}: {e}", program.display()));
        Lifeline {
            stdin: child.stdin.take(),
            child,
        }
    }

    /// Stops the server (SIGSTOP) and returns once it is stopped: a signal takes effect
    /// some time after `kill` returns, and a server still running then would answer a
    /// request the test meant to go unanswered.
    pub fn pause(&self) {
        self.signal("-STOP");
        let deadline = std::time::Instant::now() + Duration::from_secs(10);
        while !self.children().iter().all(|pid| process_state(pid) == Some('T')) {
            assert!(std::time::Instant::now() < deadline, "the server did not stop");
            std::thread::sleep(Duration::from_millis(5));
        }
    }

    /// Lets a paused server go on (SIGCONT).
    pub fn resume(&self) {
        self.signal("-CONT");
    }

    /// Sends `signal` (`-STOP`, `-CONT`) to the shell's children: the server, and the
    /// `cat` that waits for the shell's input to close.
    fn signal(&self, signal: &str) {
        let status = Command::new("pkill")
            .args([signal, "-P", &self.child.id().to_string()])
            .status()
            .expect("run pkill");
        assert!(status.success(), "pkill {signal} found no server");
    }

    /// The process ids of the shell's children.
    fn children(&self) -> Vec<String> {
        let out = Command::new("pgrep")
            .args(["-P", &self.child.id().to_string()])
            .output()
            .expect("run pgrep");
        String::from_utf8_lossy(&out.stdout)
            .split_whitespace()
            .map(str::to_owned)
            .collect()
    }
}

/// The state letter of process `pid` (`R`, `S`, `T`, ...), if it still exists.
fn process_state(pid: &str) -> Option<char> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // After the command name, which is in parentheses and may hold spaces.
    stat.rsplit_once(") ")?.1.chars().next()
}

impl Drop for Lifeline {
    fn drop(&mut self) {
        // A server a failed test left paused: its `cat`, stopped with it, would never see
        // the input close, and the shell would never kill the server.
        let _ = Command::new("pkill")
            .args(["-CONT", "-P", &self.child.id().to_string()])
            .status();
        drop(self.stdin.take());
        let _ = self.child.wait();
    }
}

/// The HTTP status code of an unsigned `method` request for `path`, if the server answered.
pub fn status(address: SocketAddr, method: &str, path: &str) -> Option<String> {
    let mut stream = TcpStream::connect_timeout(&address, Duration::from_secs(1)).ok()?;
    stream.set_read_timeout(Some(Duration::from_secs(2))).ok()?;
    let request =
        format!("{method} {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: 0\r\nConnection: close\r\n\r\n");
    std::io::Write::write_all(&mut stream, request.as_bytes()).ok()?;
    let mut head = [0u8; 64];
    let n = stream.read(&mut head).ok()?;
    let line = String::from_utf8_lossy(&head[..n]).into_owned();
    line.split_whitespace().nth(1).map(str::to_owned)
}
