//! The session's writer task: takes answers from a bounded channel and writes them, several per write call when
//! they queue up, flushing only when the queue is empty (batched writes, as rumqttd does). Payloads of stored
//! batches larger than the buffer go straight to the socket, never copied into it.

use tokio::io::{AsyncWrite, AsyncWriteExt, BufWriter};
use tokio::sync::mpsc;

use super::Queued;
use crate::answer::Answer;

/// Write buffer per session.
const WRITE_BUFFER: usize = 64 * 1024;

/// Writes every answer received until the channel closes, then flushes and shuts the write side down (TCP: FIN;
/// QUIC: finishes the stream). Returns the writer so the caller can wait for delivery.
pub(crate) async fn write_answers<W>(writer: W, mut answers: mpsc::Receiver<Queued>) -> std::io::Result<W>
where
    W: AsyncWrite + Unpin,
{
    let mut out = BufWriter::with_capacity(WRITE_BUFFER, writer);
    // The charge of an answer is released once it is written (to the buffer or the socket).
    while let Some((answer, _charge)) = answers.recv().await {
        write_one(&mut out, &answer).await?;
        while let Ok((answer, _charge)) = answers.try_recv() {
            write_one(&mut out, &answer).await?;
        }
        out.flush().await?;
    }
    out.shutdown().await?;
    Ok(out.into_inner())
}

async fn write_one<W: AsyncWrite + Unpin>(out: &mut BufWriter<W>, answer: &Answer) -> std::io::Result<()> {
    out.write_all(&answer.frame_header()).await?;
    out.write_all(&answer.head).await?;
    if !answer.payload.is_empty() {
        out.write_all(&answer.payload).await?;
    }
    Ok(())
}
