//! An empty bucket anyone may read, for the demo viewer's shared-tier test
//! (`www/test/e2e.test.mjs`): starts a SeaweedFS server whose bucket is readable without
//! credentials (with CORS for any origin) and writable with them, prints one JSON line
//! saying where it is and how to write to it, and keeps the server until its standard
//! input closes (or the process ends).
//!
//! Usage: `public_bucket [PREFIX]` (default `demo/`). The line:
//!
//! ```text
//! {"endpoint":"http://127.0.0.1:PORT","bucket":"stepcache","prefix":"demo/",
//!  "accessKey":"…","secretKey":"…","url":"http://127.0.0.1:PORT/stepcache/demo/"}
//! ```
//!
//! `url` is the prefix as a browser reads it (`open({ shared: { url } })` in the npm
//! package); the native writer takes the other fields.

#[cfg(not(target_family = "wasm"))]
fn main() {
    use std::io::Read;

    use stepcache_tests::seaweed::{ACCESS_KEY, BUCKET, SECRET_KEY, Seaweed};

    let prefix = std::env::args().nth(1).unwrap_or_else(|| "demo/".to_owned());
    let prefix = match prefix.trim_matches('/') {
        "" => String::new(),
        folder => format!("{folder}/"),
    };
    let server = Seaweed::start_public("public-bucket");
    println!(
        r#"{{"endpoint":"{endpoint}","bucket":"{BUCKET}","prefix":"{prefix}","accessKey":"{ACCESS_KEY}","secretKey":"{SECRET_KEY}","url":"{endpoint}/{BUCKET}/{prefix}"}}"#,
        endpoint = server.endpoint
    );
    // Kept until the test closes our standard input (or ends).
    let _ = std::io::stdin().read_to_end(&mut Vec::new());
    drop(server);
}

#[cfg(target_family = "wasm")]
fn main() {}
