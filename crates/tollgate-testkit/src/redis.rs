//! A real `redis-server` on a free loopback port, for tests that share
//! state between gateway replicas.

use std::process::{Child, Command, Stdio};
use std::time::Duration;

/// A `redis-server` child process, killed when dropped.
///
/// ```no_run
/// let redis = tollgate_testkit::RedisServer::start()?;
/// println!("{}", redis.url());
/// # Ok::<_, tollgate_testkit::Error>(())
/// ```
#[derive(Debug)]
pub struct RedisServer {
    child: Child,
    port: u16,
    dir: std::path::PathBuf,
}

impl RedisServer {
    /// Starts one; `redis-server` must be on PATH (`.ci/run` installs it).
    ///
    /// # Errors
    /// When it is not installed or does not start listening.
    pub fn start() -> Result<RedisServer, crate::Error> {
        let io = |what: &str, e: std::io::Error| crate::Error::Io(std::io::Error::other(format!("{what}: {e}")));
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .map_err(|e| io("finding a free port", e))?
            .port();
        let dir = std::env::temp_dir().join(format!("tollgate-redis-{port}-{}", std::process::id()));
        std::fs::create_dir_all(&dir).map_err(|e| io("creating a redis directory", e))?;
        let mut child = Command::new("redis-server")
            .args([
                "--port",
                &port.to_string(),
                "--bind",
                "127.0.0.1",
                "--save",
                "",
                "--appendonly",
                "no",
            ])
            .arg("--dir")
            .arg(&dir)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .map_err(|e| io("starting redis-server (apt-get install redis-server)", e))?;
        for _ in 0..300 {
            if std::net::TcpStream::connect(("127.0.0.1", port)).is_ok() {
                return Ok(RedisServer { child, port, dir });
            }
            std::thread::sleep(Duration::from_millis(10));
        }
        let _ = child.kill();
        Err(crate::Error::Io(std::io::Error::other(
            "redis-server did not start listening",
        )))
    }

    /// `redis://127.0.0.1:<port>`.
    pub fn url(&self) -> String {
        format!("redis://127.0.0.1:{}", self.port)
    }
}

impl Drop for RedisServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}
