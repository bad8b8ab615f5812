//! [`StallGuard`]: a writer that fails when the peer has taken no byte for the session's `write_stall_timeout`,
//! so a client that stops reading frees its connection and byte budget instead of holding them until the idle
//! timeout. Progress, however slow, keeps it going: only a write that stays blocked that long fails.

use std::future::Future;
use std::io;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use tokio::io::AsyncWrite;
use tokio::time::{Instant, Sleep};

/// Wraps a writer; any write, flush or shutdown blocked for `timeout` without progress fails with `TimedOut`.
pub(crate) struct StallGuard<W> {
    inner: W,
    timeout: Duration,
    sleep: Pin<Box<Sleep>>,
    armed: bool,
}

impl<W> StallGuard<W> {
    pub(crate) fn new(inner: W, timeout: Duration) -> Self {
        StallGuard { inner, timeout, sleep: Box::pin(tokio::time::sleep(timeout)), armed: false }
    }

    pub(crate) fn into_inner(self) -> W {
        self.inner
    }

    /// Called when the inner writer is blocked: starts the clock on the first block, fails once it ran out.
    fn blocked(&mut self, cx: &mut Context<'_>) -> Poll<io::Error> {
        if !self.armed {
            self.sleep.as_mut().reset(Instant::now() + self.timeout);
            self.armed = true;
        }
        match self.sleep.as_mut().poll(cx) {
            Poll::Ready(()) => Poll::Ready(io::Error::new(
                io::ErrorKind::TimedOut,
                format!("the peer read nothing for {:?}", self.timeout),
            )),
            Poll::Pending => Poll::Pending,
        }
    }

    fn check<T>(&mut self, cx: &mut Context<'_>, polled: Poll<io::Result<T>>) -> Poll<io::Result<T>> {
        match polled {
            Poll::Ready(result) => {
                self.armed = false;
                Poll::Ready(result)
            }
            Poll::Pending => self.blocked(cx).map(Err),
        }
    }
}

impl<W: AsyncWrite + Unpin> AsyncWrite for StallGuard<W> {
    fn poll_write(self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &[u8]) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        let polled = Pin::new(&mut this.inner).poll_write(cx, buf);
        this.check(cx, polled)
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        let polled = Pin::new(&mut this.inner).poll_flush(cx);
        this.check(cx, polled)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        let polled = Pin::new(&mut this.inner).poll_shutdown(cx);
        this.check(cx, polled)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::AsyncWriteExt;

    #[tokio::test(start_paused = true)]
    async fn a_blocked_write_fails_after_the_timeout_and_progress_resets_it() {
        let (client, mut server) = tokio::io::duplex(8);
        let mut guarded = StallGuard::new(client, Duration::from_secs(5));
        guarded.write_all(b"12345678").await.expect("fits the pipe");
        // Reading a little every 3 s keeps a long write alive (progress, however slow).
        let reader = tokio::spawn(async move {
            let mut buf = [0u8; 8];
            for _ in 0..4 {
                tokio::time::sleep(Duration::from_secs(3)).await;
                tokio::io::AsyncReadExt::read_exact(&mut server, &mut buf).await.expect("read");
            }
            server
        });
        guarded.write_all(&[7u8; 24]).await.expect("slow progress is not a stall");
        let _server = reader.await.expect("reader");
        // Nobody reads any more: the next write that blocks fails after 5 s.
        let err = guarded.write_all(&[1u8; 64]).await.expect_err("a stalled write");
        assert_eq!(err.kind(), io::ErrorKind::TimedOut);
    }
}
