//! A deadline over one connection: once the collector has not written to
//! it for a whole `limit`, its reads and writes fail (`TimedOut`) and
//! actix-http drops it.
//!
//! actix-http times only the *first* request's head
//! (`client_request_timeout`) and idle gaps between requests
//! (`keep_alive`). A client that sends one request, then trickles the next
//! head a byte at a time, or stops reading its answer, would otherwise hold
//! the connection for as long as it likes (measured: over 40 s and counting
//! with both set to 5 s). Every honest exchange has the collector writing
//! within `keep_alive` + `client_request_timeout` + the body timeout + the
//! broker's acknowledgement timeout (each is enforced, with an answer,
//! before this one), so the limit is their sum and only a stalled client
//! ever meets it.

use std::future::Future;
use std::io;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::time::{Instant, Sleep, sleep_until};

use crate::metrics;

/// The reason a connection cut by its deadline is counted under.
pub const REASON: &str = "stalled_connection";

/// `io` that fails once `limit` passed without a write to it.
pub struct Deadline<IO> {
    io: IO,
    limit: Duration,
    last_write: Instant,
    timer: Pin<Box<Sleep>>,
    expired: bool,
}

impl<IO> Deadline<IO> {
    /// Wraps a connection just accepted.
    pub fn new(io: IO, limit: Duration) -> Self {
        let now = Instant::now();
        Self {
            io,
            limit,
            last_write: now,
            timer: Box::pin(sleep_until(now + limit)),
            expired: false,
        }
    }

    /// `Err` once the deadline passed (counted once); otherwise arms the
    /// timer so the connection's task wakes when it does.
    fn check(&mut self, cx: &mut Context<'_>) -> io::Result<()> {
        // The timer is moved only when it fires, not on every write.
        while !self.expired && self.timer.as_mut().poll(cx).is_ready() {
            let deadline = self.last_write + self.limit;
            if deadline <= Instant::now() {
                self.expired = true;
                ::metrics::counter!(metrics::REQUESTS_REJECTED, "reason" => REASON).increment(1);
                tracing::info!(reason = REASON, "connection closed");
            } else {
                self.timer.as_mut().reset(deadline);
            }
        }
        if self.expired {
            Err(io::Error::new(
                io::ErrorKind::TimedOut,
                "no answer written within the connection deadline",
            ))
        } else {
            Ok(())
        }
    }
}

impl<IO: AsyncRead + Unpin> AsyncRead for Deadline<IO> {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        this.check(cx)?;
        Pin::new(&mut this.io).poll_read(cx, buf)
    }
}

impl<IO: AsyncWrite + Unpin> AsyncWrite for Deadline<IO> {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        this.check(cx)?;
        let written = Pin::new(&mut this.io).poll_write(cx, buf);
        if matches!(written, Poll::Ready(Ok(n)) if n > 0) {
            this.last_write = Instant::now();
        }
        written
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        this.check(cx)?;
        Pin::new(&mut this.io).poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        // Closing is always allowed, deadline or not.
        Pin::new(&mut self.get_mut().io).poll_shutdown(cx)
    }
}

#[cfg(test)]
mod tests {
    use tokio::io::{AsyncReadExt, AsyncWriteExt, duplex};

    use super::*;

    // Real time (the collector's tests do not pause tokio's clock): short
    // enough to wait for, long enough for a loaded machine to keep up.
    const LIMIT: Duration = Duration::from_millis(300);
    const STEP: Duration = Duration::from_millis(200);

    /// Whether `took` is `expected`, give or take the scheduler.
    fn about(took: Duration, expected: Duration) -> bool {
        took >= expected && took < expected + Duration::from_millis(250)
    }

    #[tokio::test]
    async fn a_connection_never_written_to_fails_at_the_limit() {
        let (server, mut client) = duplex(64);
        let mut server = Deadline::new(server, LIMIT);
        let started = Instant::now();
        client.write_all(b"G").await.unwrap();
        let mut buf = [0; 8];
        assert_eq!(server.read(&mut buf).await.unwrap(), 1);
        let error = server.read(&mut buf).await.unwrap_err();
        assert_eq!(error.kind(), io::ErrorKind::TimedOut);
        assert!(about(started.elapsed(), LIMIT), "{:?}", started.elapsed());
        assert!(server.write_all(b"late").await.is_err(), "stays expired");
    }

    #[tokio::test]
    async fn each_write_gives_the_connection_another_limit() {
        let (server, mut client) = duplex(64);
        let mut server = Deadline::new(server, LIMIT);
        let started = Instant::now();
        for _ in 0..3 {
            tokio::time::sleep(STEP).await;
            server.write_all(b"answer").await.unwrap();
        }
        let mut buf = [0; 8];
        let error = server.read(&mut buf).await.unwrap_err();
        assert_eq!(error.kind(), io::ErrorKind::TimedOut);
        let expected = 3 * STEP + LIMIT;
        assert!(
            about(started.elapsed(), expected),
            "{:?}",
            started.elapsed()
        );
        let mut answers = vec![0; 18];
        client.read_exact(&mut answers).await.unwrap();
    }

    #[tokio::test]
    async fn a_client_that_never_reads_its_answer_is_cut_off() {
        let (server, _client) = duplex(16);
        let mut server = Deadline::new(server, LIMIT);
        let started = Instant::now();
        let error = server.write_all(&[b'x'; 64]).await.unwrap_err();
        assert_eq!(error.kind(), io::ErrorKind::TimedOut);
        // 16 bytes went into the pipe at once; nothing since.
        assert!(about(started.elapsed(), LIMIT), "{:?}", started.elapsed());
    }
}
