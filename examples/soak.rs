//! The crash soak behind `scripts/soak.sh`: runs a real `callboard serve`, writes numbered messages to `always`
//! topics and a durable queue through three interfaces at once — the SDK's idempotent producer over TCP, the REST
//! API over HTTP and pika (publisher confirms) over AMQP — kills the broker with SIGKILL at a random moment,
//! restarts it on the same data directory and checks that every acknowledged message is there exactly once and in
//! order, and that `callboard log check` finds no corruption in any partition.
//!
//! ```text
//! cargo build --release --bin callboard --example soak
//! target/release/examples/soak --bin target/release/callboard [--trials N] [--seed S] [--data-dir DIR]
//! ```
//!
//! One line per trial, then `trials N, acknowledged M, lost L, duplicated D`; exit code 1 unless L, D and the
//! corrupt-partition count are all 0. The data directory (a temporary one unless given) accumulates across trials,
//! so each restart also recovers the partitions of every earlier crash.

#![allow(clippy::print_stdout, clippy::print_stderr)]

use std::collections::{BTreeMap, HashMap};
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use base64::prelude::{BASE64_STANDARD, Engine};
use callboard_client::{Client, ClientConfig, Message, PollingStrategy, Producer, ProducerConfig, TopicConfig};
use rand::{Rng, SeedableRng};

const STREAM: &str = "default";
/// The admin password the soak's broker is started with (`CALLBOARD_ADMIN_PASSWORD`); pika logs in with it.
const ADMIN_PASSWORD: &str = "soak-admin-password";
const SDK_PARTITIONS: u32 = 3;
/// Messages per REST produce request.
const HTTP_BATCH: u64 = 10;

struct Args {
    bin: PathBuf,
    trials: u32,
    seed: u64,
    data_dir: Option<PathBuf>,
}

fn parse_args() -> anyhow::Result<Args> {
    let mut args = Args { bin: PathBuf::from("target/release/callboard"), trials: 5, seed: 0, data_dir: None };
    let mut it = std::env::args().skip(1);
    while let Some(flag) = it.next() {
        let value = it.next().with_context(|| format!("{flag} needs a value"))?;
        match flag.as_str() {
            "--bin" => args.bin = value.into(),
            "--trials" => args.trials = value.parse().context("--trials")?,
            "--seed" => args.seed = value.parse().context("--seed")?,
            "--data-dir" => args.data_dir = Some(value.into()),
            other => bail!("unknown flag {other}"),
        }
    }
    if args.seed == 0 {
        args.seed = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH)?.as_nanos() as u64;
    }
    Ok(args)
}

/// A running `callboard serve` and the addresses it printed.
struct Serve {
    child: Child,
    addrs: HashMap<String, String>,
}

impl Serve {
    fn start(bin: &Path, dir: &Path) -> anyhow::Result<Serve> {
        let mut child = Command::new(bin)
            .args(["serve", "--data-dir"])
            .arg(dir)
            .args(["--tcp", "127.0.0.1:0", "--http", "127.0.0.1:0", "--amqp", "127.0.0.1:0", "--quic", "off"])
            .env("RUST_LOG", "warn")
            .env("CALLBOARD_ADMIN_PASSWORD", ADMIN_PASSWORD)
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .with_context(|| format!("starting {}", bin.display()))?;
        let mut lines = BufReader::new(child.stdout.take().context("stdout")?).lines();
        let mut addrs = HashMap::new();
        loop {
            let line = lines.next().context("serve exited before `ready`")??;
            match line.split(' ').collect::<Vec<_>>().as_slice() {
                ["ready"] => break,
                ["listening", name, addr] => {
                    addrs.insert(name.to_string(), addr.to_string());
                }
                _ => bail!("unexpected line from serve: {line}"),
            }
        }
        Ok(Serve { child, addrs })
    }

    fn addr(&self, name: &str) -> &str {
        &self.addrs[name]
    }

    fn kill(mut self) -> anyhow::Result<()> {
        self.child.kill()?;
        self.child.wait()?;
        Ok(())
    }

    fn stop(mut self) -> anyhow::Result<()> {
        let ok = Command::new("kill").arg("-TERM").arg(self.child.id().to_string()).status()?;
        anyhow::ensure!(ok.success(), "kill -TERM failed");
        let status = self.child.wait()?;
        anyhow::ensure!(status.success(), "serve exited with {status} after SIGTERM");
        Ok(())
    }
}

impl Drop for Serve {
    /// A trial that fails midway leaves no server running.
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

/// What one interface's verification found.
#[derive(Default)]
struct Check {
    acknowledged: u64,
    lost: u64,
    duplicated: u64,
    out_of_order: u64,
}

impl Check {
    /// Compares what was read back (the numbers of the messages, per partition in stored order) with the
    /// acknowledged prefix `0..acknowledged`.
    fn of(acknowledged: u64, partitions: &[Vec<u64>]) -> Check {
        let mut seen: HashMap<u64, u64> = HashMap::new();
        let mut out_of_order = 0;
        for numbers in partitions {
            out_of_order += numbers.windows(2).filter(|w| w[0] >= w[1]).count() as u64;
            for &n in numbers {
                *seen.entry(n).or_default() += 1;
            }
        }
        let lost = (0..acknowledged).filter(|n| !seen.contains_key(n)).count() as u64;
        let duplicated = seen.values().map(|&c| c.saturating_sub(1)).sum();
        Check { acknowledged, lost, duplicated, out_of_order }
    }
}

fn numbers(payloads: impl IntoIterator<Item = String>, prefix: &str) -> anyhow::Result<Vec<u64>> {
    payloads
        .into_iter()
        .map(|p| {
            p.strip_prefix(prefix)
                .and_then(|n| n.parse().ok())
                .with_context(|| format!("unexpected message {p:?} (wanted {prefix}N)"))
        })
        .collect()
}

async fn read_partition(client: &Client, topic: &str, partition: u32) -> anyhow::Result<Vec<String>> {
    let mut at = PollingStrategy::First;
    let mut out = Vec::new();
    loop {
        let polled = client.poll(STREAM, topic, partition, at, 1000, Duration::ZERO, None).await?;
        out.extend(polled.messages.iter().map(|m| String::from_utf8_lossy(&m.payload).into_owned()));
        if polled.next_offset >= polled.log_end {
            return Ok(out);
        }
        at = PollingStrategy::Offset(polled.next_offset);
    }
}

/// Writes `http:N` messages over REST until a request fails; returns the count acknowledged (a prefix).
fn http_producer(addr: String, topic: String, stop: Arc<AtomicBool>, acked: Arc<AtomicU64>) {
    let agent: ureq::Agent = ureq::Agent::config_builder().timeout_global(Some(Duration::from_secs(10))).build().into();
    let url = format!("http://{addr}/api/v1/streams/{STREAM}/topics/{topic}/messages");
    let auth = format!("Basic {}", BASE64_STANDARD.encode(format!("admin:{ADMIN_PASSWORD}")));
    let mut next = 0u64;
    while !stop.load(Ordering::Acquire) {
        let messages: Vec<_> =
            (next..next + HTTP_BATCH).map(|i| serde_json::json!({ "payload": format!("http:{i}") })).collect();
        let body = serde_json::json!({ "partitioning": { "partition": 0 }, "messages": messages });
        match agent.post(&url).header("Authorization", &auth).send_json(body) {
            Ok(r) if r.status().as_u16() == 201 => {
                next += HTTP_BATCH;
                acked.store(next, Ordering::Release);
            }
            _ => return,
        }
    }
}

/// Starts the pika publisher; a thread records how many messages it saw confirmed.
fn amqp_publisher(script: &Path, addr: &str, queue: &str) -> anyhow::Result<(Child, std::thread::JoinHandle<u64>)> {
    let (host, port) = addr.rsplit_once(':').context("amqp address")?;
    let mut child = Command::new("python3")
        .arg(script)
        .args(["publish", host, port, queue])
        .env("CALLBOARD_USER", "admin")
        .env("CALLBOARD_PASSWORD", ADMIN_PASSWORD)
        .stdout(Stdio::piped())
        .spawn()
        .context("starting python3 (pika)")?;
    let stdout = child.stdout.take().context("stdout")?;
    let reader = std::thread::spawn(move || {
        let mut acked = 0;
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            if let Ok(n) = line.trim().parse::<u64>() {
                acked = n + 1;
            }
        }
        acked
    });
    Ok((child, reader))
}

/// Runs the pika script's `drain` (answers the bodies) or `delete` mode on a queue.
fn amqp_call(script: &Path, addr: &str, mode: &str, queue: &str) -> anyhow::Result<Vec<String>> {
    let (host, port) = addr.rsplit_once(':').context("amqp address")?;
    let out = Command::new("python3")
        .arg(script)
        .args([mode, host, port, queue])
        .env("CALLBOARD_USER", "admin")
        .env("CALLBOARD_PASSWORD", ADMIN_PASSWORD)
        .output()?;
    anyhow::ensure!(out.status.success(), "pika {mode} {queue} failed: {}", String::from_utf8_lossy(&out.stderr));
    let text = String::from_utf8(out.stdout)?;
    let mut lines: Vec<String> = text.lines().map(str::to_string).collect();
    anyhow::ensure!(lines.pop().as_deref() == Some("end"), "pika {mode} {queue} did not finish");
    Ok(lines)
}

/// Runs `callboard log check` on every partition directory; returns how many reported a problem.
fn log_check_all(bin: &Path, data_dir: &Path) -> anyhow::Result<u32> {
    let mut bad = 0;
    let streams = data_dir.join("streams");
    for stream in std::fs::read_dir(&streams)? {
        for topic in std::fs::read_dir(stream?.path())? {
            let topic = topic?.path();
            if !topic.is_dir() {
                continue;
            }
            for partition in std::fs::read_dir(&topic)? {
                let partition = partition?.path();
                if !partition.is_dir() {
                    continue;
                }
                let out = Command::new(bin).args(["log", "check"]).arg(&partition).env("RUST_LOG", "warn").output()?;
                if !out.status.success() {
                    bad += 1;
                    eprintln!(
                        "log check {}: {}{}",
                        partition.display(),
                        String::from_utf8_lossy(&out.stdout),
                        String::from_utf8_lossy(&out.stderr)
                    );
                }
            }
        }
    }
    Ok(bad)
}

struct Trial {
    killed_after: Duration,
    checks: BTreeMap<&'static str, Check>,
    corrupt: u32,
}

async fn trial(args: &Args, dir: &Path, script: &Path, n: u32, rng: &mut impl Rng) -> anyhow::Result<Trial> {
    let serve = Serve::start(&args.bin, dir)?;
    let client = Client::connect(ClientConfig::tcp(serve.addr("tcp")).with_password("admin", ADMIN_PASSWORD)).await?;
    if n > 1 {
        // The previous trial's data goes (deleted while nothing writes it), so every restart recovers about one
        // trial's worth and trials stay alike however many run.
        for topic in [format!("soak-sdk-{}", n - 1), format!("soak-http-{}", n - 1)] {
            client.delete_topic(STREAM, &topic).await.with_context(|| format!("deleting {topic}"))?;
        }
        amqp_call(script, serve.addr("amqp"), "delete", &format!("soak-q-{}", n - 1))?;
    }
    let (sdk_topic, http_topic, queue) = (format!("soak-sdk-{n}"), format!("soak-http-{n}"), format!("soak-q-{n}"));
    client
        .create_topic(STREAM, &sdk_topic, TopicConfig { partitions: SDK_PARTITIONS, ..TopicConfig::default() })
        .await
        .with_context(|| format!("creating {sdk_topic}"))?;
    client
        .create_topic(STREAM, &http_topic, TopicConfig::default())
        .await
        .with_context(|| format!("creating {http_topic}"))?;

    let stop = Arc::new(AtomicBool::new(false));
    let mut producer = Producer::new(client.clone(), ProducerConfig::new(STREAM, &sdk_topic)).await?;
    let sdk = tokio::spawn({
        let stop = Arc::clone(&stop);
        async move {
            let mut i = 0u64;
            while !stop.load(Ordering::Acquire) {
                if producer.send(Message::new(format!("sdk:{i}"))).await.is_err() {
                    break;
                }
                i += 1;
            }
            producer
        }
    });
    let http_acked = Arc::new(AtomicU64::new(0));
    let http = std::thread::spawn({
        let (addr, topic, stop, acked) =
            (serve.addr("http").to_string(), http_topic.clone(), Arc::clone(&stop), Arc::clone(&http_acked));
        move || http_producer(addr, topic, stop, acked)
    });
    let (mut amqp, amqp_reader) = amqp_publisher(script, serve.addr("amqp"), &queue)?;

    let started = Instant::now();
    tokio::time::sleep(Duration::from_millis(rng.random_range(300..2500))).await;
    serve.kill()?;
    let killed_after = started.elapsed();
    stop.store(true, Ordering::Release);
    // Everything acknowledged was answered before the kill; read the counts now, nothing more can arrive.
    let sdk_producer = sdk.await?;
    let sdk_acked = sdk_producer.acknowledged();
    drop(sdk_producer);
    let _ = http.join();
    let http_acked = http_acked.load(Ordering::Acquire);
    let _ = amqp.kill();
    let _ = amqp.wait();
    let amqp_acked = amqp_reader.join().map_err(|_| anyhow::anyhow!("amqp reader panicked"))?;
    drop(client);

    let serve = Serve::start(&args.bin, dir)?;
    let client = Client::connect(ClientConfig::tcp(serve.addr("tcp")).with_password("admin", ADMIN_PASSWORD)).await?;
    let mut checks = BTreeMap::new();
    let mut sdk_parts = Vec::new();
    for p in 0..SDK_PARTITIONS {
        let read = read_partition(&client, &sdk_topic, p).await.with_context(|| format!("reading {sdk_topic}/{p}"))?;
        sdk_parts.push(numbers(read, "sdk:")?);
    }
    checks.insert("sdk", Check::of(sdk_acked, &sdk_parts));
    let read = read_partition(&client, &http_topic, 0).await.with_context(|| format!("reading {http_topic}/0"))?;
    let http_part = numbers(read, "http:")?;
    checks.insert("http", Check::of(http_acked, &[http_part]));
    let amqp_msgs = numbers(amqp_call(script, serve.addr("amqp"), "drain", &queue)?, "amqp:")?;
    checks.insert("amqp", Check::of(amqp_acked, &[amqp_msgs]));
    drop(client);
    serve.stop()?;
    let corrupt = log_check_all(&args.bin, dir)?;
    Ok(Trial { killed_after, checks, corrupt })
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args = parse_args()?;
    let script = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/amqp/soak_amqp.py");
    let temp = tempfile::tempdir()?;
    let dir = args.data_dir.clone().unwrap_or_else(|| temp.path().join("data"));
    let mut rng = rand::rngs::StdRng::seed_from_u64(args.seed);
    println!("soak: {} trials, seed {}, data in {}", args.trials, args.seed, dir.display());
    let (mut acknowledged, mut lost, mut duplicated, mut disordered, mut corrupt) = (0, 0, 0, 0, 0);
    for n in 1..=args.trials {
        let t = trial(&args, &dir, &script, n, &mut rng).await.with_context(|| format!("trial {n}"))?;
        let parts: Vec<String> = t
            .checks
            .iter()
            .map(|(name, c)| format!("{name} {} acked/{} lost/{} dup", c.acknowledged, c.lost, c.duplicated))
            .collect();
        println!(
            "trial {n}: killed after {:.2} s; {}; log check: {} corrupt",
            t.killed_after.as_secs_f64(),
            parts.join(", "),
            t.corrupt
        );
        for c in t.checks.values() {
            acknowledged += c.acknowledged;
            lost += c.lost;
            duplicated += c.duplicated;
            disordered += c.out_of_order;
        }
        corrupt += t.corrupt;
    }
    println!(
        "trials {}, acknowledged {acknowledged}, lost {lost}, duplicated {duplicated}, out of order {disordered}, corrupt partitions {corrupt}",
        args.trials
    );
    if lost + duplicated + disordered > 0 || corrupt > 0 {
        std::process::exit(1);
    }
    Ok(())
}
