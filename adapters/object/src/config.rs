//! Where the shared store is and how to reach it.

use std::sync::Once;
use std::time::Duration;

use opendal::layers::{RetryLayer, TimeoutLayer};
use opendal::services::S3;
use opendal::{HttpTransporter, OperationContext, Operator};
use opendal_http_transport_reqwest::ReqwestTransport;
use stepcache_core::{Error, ErrorKind, Result};

/// How long one request may take before it is abandoned (and retried), by default.
const DEFAULT_TIMEOUT: Duration = Duration::from_secs(30);
/// How often a failed request is tried again, with backoff, by default.
const DEFAULT_RETRIES: usize = 3;

/// The bucket, endpoint, credentials and limits of a shared store.
///
/// ```
/// use stepcache_object::ObjectConfig;
/// let config = ObjectConfig::new("lab-cache")
///     .endpoint("http://127.0.0.1:8333")
///     .prefix("team-a")
///     .credentials("access key", "secret key");
/// assert_eq!(config.prefix_text(), "team-a/");
/// ```
#[derive(Clone, Default)]
pub struct ObjectConfig {
    bucket: String,
    endpoint: Option<String>,
    prefix: String,
    region: Option<String>,
    access_key_id: Option<String>,
    secret_access_key: Option<String>,
    session_token: Option<String>,
    timeout: Option<Duration>,
    retries: Option<usize>,
}

impl std::fmt::Debug for ObjectConfig {
    /// Everything but the secrets.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ObjectConfig")
            .field("bucket", &self.bucket)
            .field("endpoint", &self.endpoint)
            .field("prefix", &self.prefix)
            .field("region", &self.region)
            .field("access_key_id", &self.access_key_id)
            .finish_non_exhaustive()
    }
}

/// A non-empty environment variable.
fn env(name: &str) -> Option<String> {
    std::env::var(name).ok().filter(|v| !v.is_empty())
}

impl ObjectConfig {
    /// The bucket `bucket` at AWS, with credentials from the environment (or the AWS
    /// configuration files) unless given.
    pub fn new(bucket: &str) -> Self {
        ObjectConfig {
            bucket: bucket.to_owned(),
            ..ObjectConfig::default()
        }
    }

    /// The bucket `STEPCACHE_BUCKET` (and the prefix `STEPCACHE_PREFIX`), with the usual
    /// AWS variables: `AWS_ENDPOINT_URL`, `AWS_REGION` (or `AWS_DEFAULT_REGION`),
    /// `AWS_ACCESS_KEY_ID`, `AWS_SECRET_ACCESS_KEY`, `AWS_SESSION_TOKEN`.
    pub fn from_env() -> Self {
        ObjectConfig {
            bucket: env("STEPCACHE_BUCKET").unwrap_or_default(),
            endpoint: env("AWS_ENDPOINT_URL"),
            prefix: env("STEPCACHE_PREFIX").map(|p| normalized(&p)).unwrap_or_default(),
            region: env("AWS_REGION").or_else(|| env("AWS_DEFAULT_REGION")),
            access_key_id: env("AWS_ACCESS_KEY_ID"),
            secret_access_key: env("AWS_SECRET_ACCESS_KEY"),
            session_token: env("AWS_SESSION_TOKEN"),
            timeout: None,
            retries: None,
        }
    }

    /// The service's address, e.g. `https://s3.eu-west-1.amazonaws.com` or a local
    /// `http://127.0.0.1:8333`.
    pub fn endpoint(mut self, url: &str) -> Self {
        self.endpoint = Some(url.to_owned());
        self
    }

    /// The bucket.
    pub fn bucket(mut self, bucket: &str) -> Self {
        self.bucket = bucket.to_owned();
        self
    }

    /// A folder in the bucket for this cache (so several caches, or teams, share one
    /// bucket); empty by default.
    pub fn prefix(mut self, prefix: &str) -> Self {
        self.prefix = normalized(prefix);
        self
    }

    /// The region (default: what the environment says, else `us-east-1`).
    pub fn region(mut self, region: &str) -> Self {
        self.region = Some(region.to_owned());
        self
    }

    /// The access key and secret.
    pub fn credentials(mut self, access_key_id: &str, secret_access_key: &str) -> Self {
        self.access_key_id = Some(access_key_id.to_owned());
        self.secret_access_key = Some(secret_access_key.to_owned());
        self
    }

    /// A session token for temporary credentials.
    pub fn session_token(mut self, token: &str) -> Self {
        self.session_token = Some(token.to_owned());
        self
    }

    /// How long one request may take before it is abandoned and retried (default 30 s).
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = Some(timeout);
        self
    }

    /// How often a failed request is tried again, with backoff (default 3).
    pub fn retries(mut self, retries: usize) -> Self {
        self.retries = Some(retries);
        self
    }

    /// The prefix, empty or ending in `/`.
    pub fn prefix_text(&self) -> &str {
        &self.prefix
    }

    /// The opendal operator of this configuration.
    pub(crate) fn operator(&self) -> Result<Operator> {
        if self.bucket.is_empty() {
            return Err(Error::new(
                ErrorKind::InvalidConfig,
                "the shared store needs a bucket (ObjectConfig::new, or STEPCACHE_BUCKET)",
            ));
        }
        let mut builder = S3::default()
            .bucket(&self.bucket)
            .region(self.region.as_deref().unwrap_or("us-east-1"));
        if let Some(endpoint) = &self.endpoint {
            builder = builder.endpoint(endpoint);
        }
        if let (Some(key), Some(secret)) = (&self.access_key_id, &self.secret_access_key) {
            builder = builder.access_key_id(key).secret_access_key(secret);
        }
        if let Some(token) = &self.session_token {
            builder = builder.session_token(token);
        }
        let timeout = self.timeout.unwrap_or(DEFAULT_TIMEOUT);
        let operator = Operator::new(builder)
            .map_err(|e| {
                Error::new(
                    ErrorKind::InvalidConfig,
                    format!("the shared store's configuration: {e}"),
                )
            })?
            .with_context(OperationContext::new().with_http_transport(transport()))
            .layer(TimeoutLayer::new().with_timeout(timeout).with_io_timeout(timeout))
            .layer(
                RetryLayer::new()
                    .with_max_times(self.retries.unwrap_or(DEFAULT_RETRIES))
                    .with_jitter(),
            );
        Ok(operator)
    }
}

/// `prefix` as a folder: without a leading `/`, with a trailing one (empty stays empty).
fn normalized(prefix: &str) -> String {
    let trimmed = prefix.trim_matches('/');
    if trimmed.is_empty() {
        String::new()
    } else {
        format!("{trimmed}/")
    }
}

/// The HTTP client every operator sends its requests through: reqwest's, one per process
/// (its connection pool shared), on rustls with the ring provider, installed once.
fn transport() -> HttpTransporter {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        // ring, not rustls's default aws-lc-rs, whose C library takes minutes more to build
        // (rustls deprecates ring's provider for lacking post-quantum key exchange). Another
        // part of the program may have chosen a provider already: that one stays.
        #[allow(deprecated)]
        let _ = rustls::crypto::ring::default_provider().install_default();
    });
    HttpTransporter::new(ReqwestTransport::default())
}
