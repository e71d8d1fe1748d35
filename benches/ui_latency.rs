//! Key-to-frame latency of the TUI while 256 parts are in flight.
//!
//! The real pieces in one process: `haul serve`'s server on 127.0.0.1:0 (2 s per part copy,
//! with jitter, so parts stay in flight and finish continuously), the real engine on a
//! `CosClient` whose request records feed the UI like `haul` does, and the UI's own run loop
//! (`ui::drive`) on a `TestBackend` wrapped to timestamp each frame. 16 jobs × 16 parts are
//! in flight (global limit 256); then `j`/`k` presses are injected into the loop's input stream
//! every 20 ms and each one's latency is measured from injection to the end of the first frame
//! drawn after the loop took the key.
//!
//! Prints p50/p99/max; asserts nothing about time. Run: `cargo bench --bench ui_latency`
//! (`KEYS=N` changes the number of presses, default 600).

use std::io;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use crossterm::event::{Event as TermEvent, KeyCode, KeyEvent, KeyModifiers};
use haul::engine::{
    Command, CopyOptions, CopySpec, Engine, EngineConfig, Event, JobState, PartSize,
};
use haul::server::{self, ServeArgs};
use haul::store::client::{ClientOptions, CosClient};
use haul::store::{CosUri, Credentials, ObjectStore, RequestRecord, Secret};
use haul::ui::{self, App, UiOptions};
use ratatui::backend::{Backend, ClearType, TestBackend, WindowSize};
use ratatui::buffer::Cell;
use ratatui::layout::{Position, Size};
use ratatui::Terminal;

const JOBS: usize = 16;
const PARTS_PER_JOB: usize = 16;
const IN_FLIGHT: usize = JOBS * PARTS_PER_JOB;
const COLS: u16 = 120;
const ROWS: u16 = 40;

/// Frame start (the loop asks the size first) and end (the final flush) times.
#[derive(Default)]
struct Frames {
    started: Option<Instant>,
    done: Vec<(Instant, Instant)>,
}

struct TimedBackend {
    inner: TestBackend,
    frames: Arc<Mutex<Frames>>,
}

impl Backend for TimedBackend {
    fn draw<'a, I>(&mut self, content: I) -> io::Result<()>
    where
        I: Iterator<Item = (u16, u16, &'a Cell)>,
    {
        self.inner.draw(content)
    }
    fn hide_cursor(&mut self) -> io::Result<()> {
        self.inner.hide_cursor()
    }
    fn show_cursor(&mut self) -> io::Result<()> {
        self.inner.show_cursor()
    }
    fn get_cursor_position(&mut self) -> io::Result<Position> {
        self.inner.get_cursor_position()
    }
    fn set_cursor_position<P: Into<Position>>(&mut self, position: P) -> io::Result<()> {
        self.inner.set_cursor_position(position)
    }
    fn clear(&mut self) -> io::Result<()> {
        self.inner.clear()
    }
    fn clear_region(&mut self, clear_type: ClearType) -> io::Result<()> {
        self.inner.clear_region(clear_type)
    }
    fn size(&self) -> io::Result<Size> {
        self.frames.lock().unwrap().started = Some(Instant::now());
        self.inner.size()
    }
    fn window_size(&mut self) -> io::Result<WindowSize> {
        self.inner.window_size()
    }
    fn flush(&mut self) -> io::Result<()> {
        self.inner.flush()?;
        let now = Instant::now();
        let mut f = self.frames.lock().unwrap();
        if let Some(s) = f.started.take() {
            f.done.push((s, now));
        }
        Ok(())
    }
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i.min(sorted.len() - 1)]
}

fn main() {
    let keys: usize = std::env::var("KEYS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(600);
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("tokio runtime");
    rt.block_on(bench(keys));
}

async fn bench(keys: usize) {
    let objects: Vec<String> = (0..JOBS)
        .map(|i| format!("cos://media-1250000000/bench/take-{i:02}.mov=64GiB"))
        .collect();
    let srv = server::start(ServeArgs {
        listen: "127.0.0.1:0".parse().unwrap(),
        credentials: vec![],
        region: "ap-guangzhou".into(),
        buckets: vec!["media-1250000000".into(), "backup-1250000000".into()],
        objects,
        object_sets: vec![],
        demo: false,
        data: None,
        latency: Some(Duration::from_secs(2)),
        copy_rate: None,
        total_rate: None,
        jitter: 0.5,
        fault_rate: 0.0,
        faults: vec![],
        seed: 1,
        access_log: None,
        fault_stall: Duration::from_secs(60),
        limits: Default::default(),
    })
    .await
    .expect("start the server");

    // The client and event plumbing as `haul` builds it: request records merged into the UI's
    // event channel beside the engine's events.
    let (rec_tx, mut rec_rx) = tokio::sync::mpsc::unbounded_channel::<RequestRecord>();
    let mut opts = ClientOptions::new(Credentials {
        secret_id: server::DEMO_SECRET_ID.into(),
        secret_key: Secret::new(server::DEMO_SECRET_KEY),
        token: None,
    });
    opts.endpoint = Some(srv.endpoint());
    opts.observer = Some(Arc::new(move |r| {
        let _ = rec_tx.send(r);
    }));
    let store: Arc<dyn ObjectStore> = Arc::new(CosClient::new(opts).expect("client"));
    let handle = Engine::start(
        store,
        EngineConfig {
            concurrency: IN_FLIGHT,
            concurrency_per_job: PARTS_PER_JOB,
            active_jobs: JOBS,
            ..EngineConfig::default()
        },
    );
    let in_flight = Arc::new(AtomicUsize::new(0));
    let (ui_tx, mut ui_rx) = tokio::sync::mpsc::unbounded_channel();
    let mut engine_events = handle.events;
    let fly = in_flight.clone();
    let forwarder = tokio::spawn(async move {
        loop {
            tokio::select! {
                biased;
                ev = engine_events.recv() => match ev {
                    Some(ev) => {
                        match &ev {
                            Event::PartStarted { attempt: 1, .. } => {
                                fly.fetch_add(1, Ordering::Relaxed);
                            }
                            Event::PartDone { .. } | Event::PartFailed { .. } => {
                                fly.fetch_sub(1, Ordering::Relaxed);
                            }
                            Event::JobFinished { id, state, .. }
                                if !matches!(state, JobState::Done | JobState::Cancelled) =>
                            {
                                eprintln!("job {id} ended {state:?}");
                            }
                            _ => {}
                        }
                        let _ = ui_tx.send(ev);
                    }
                    None => break,
                },
                Some(r) = rec_rx.recv() => { let _ = ui_tx.send(Event::Request(r)); }
            }
        }
    });

    for i in 0..JOBS {
        let spec = CopySpec {
            source: CosUri::parse(&format!("cos://media-1250000000/bench/take-{i:02}.mov"))
                .unwrap(),
            destination: CosUri::parse(&format!("cos://backup-1250000000/bench/take-{i:02}.mov"))
                .unwrap(),
            options: CopyOptions {
                part_size: PartSize::Fixed(8 << 20),
                ..CopyOptions::default()
            },
        };
        handle.commands.send(Command::Enqueue(spec)).unwrap();
    }

    // The UI's own loop on a timed TestBackend, keys from a channel.
    let frames = Arc::new(Mutex::new(Frames::default()));
    let backend = TimedBackend {
        inner: TestBackend::new(COLS, ROWS),
        frames: frames.clone(),
    };
    let mut terminal = Terminal::new(backend).expect("terminal");
    let mut app = App::new(&UiOptions::new("bench"));
    app.resize(COLS, ROWS);
    let taken: Arc<Mutex<Option<Instant>>> = Arc::new(Mutex::new(None));
    let (key_tx, key_rx) = tokio::sync::mpsc::unbounded_channel::<TermEvent>();
    let t2 = taken.clone();
    let mut input = Box::pin(futures::stream::unfold(key_rx, move |mut rx| {
        let t2 = t2.clone();
        async move {
            let ev = rx.recv().await?;
            *t2.lock().unwrap() = Some(Instant::now());
            Some((Ok::<_, io::Error>(ev), rx))
        }
    }));
    let commands = handle.commands.clone();
    let ui = tokio::spawn(async move {
        let r = ui::drive(
            &mut app,
            &mut terminal,
            &mut input,
            &commands,
            &mut ui_rx,
            None,
        )
        .await;
        (r, app)
    });
    let key = |c: char| TermEvent::Key(KeyEvent::new(KeyCode::Char(c), KeyModifiers::NONE));

    // The Queue, then wait for every job to have its 16 parts in flight.
    key_tx.send(key('2')).unwrap();
    let start = Instant::now();
    while in_flight.load(Ordering::Relaxed) < IN_FLIGHT {
        if start.elapsed() > Duration::from_secs(60) {
            panic!(
                "only {} parts in flight after 60 s",
                in_flight.load(Ordering::Relaxed)
            );
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    println!(
        "{IN_FLIGHT} parts in flight after {:.1}s; injecting {keys} keys",
        start.elapsed().as_secs_f64()
    );

    let mut lat = Vec::with_capacity(keys);
    let mut fly_min = usize::MAX;
    let frames_before = frames.lock().unwrap().done.len();
    let measure_start = Instant::now();
    for i in 0..keys {
        tokio::time::sleep(Duration::from_millis(20)).await;
        fly_min = fly_min.min(in_flight.load(Ordering::Relaxed));
        *taken.lock().unwrap() = None;
        let t0 = Instant::now();
        key_tx
            .send(key(if (i / 8) % 2 == 0 { 'j' } else { 'k' }))
            .unwrap();
        let end = loop {
            let got = *taken.lock().unwrap();
            if let Some(took) = got {
                let f = frames.lock().unwrap();
                if let Some((_, end)) = f.done.iter().rev().find(|(s, _)| *s >= took) {
                    break *end;
                }
            }
            if t0.elapsed() > Duration::from_secs(10) {
                panic!("no frame within 10 s of key {i}");
            }
            tokio::time::sleep(Duration::from_micros(500)).await;
        };
        lat.push(end.duration_since(t0));
    }
    let elapsed = measure_start.elapsed();
    let frames_drawn = frames.lock().unwrap().done.len() - frames_before;
    let durations: Vec<Duration> = {
        let f = frames.lock().unwrap();
        let mut d: Vec<Duration> = f.done[frames_before..]
            .iter()
            .map(|(s, e)| e.duration_since(*s))
            .collect();
        d.sort();
        d
    };
    lat.sort();
    let ms = |d: Duration| d.as_secs_f64() * 1000.0;
    println!(
        "key-to-frame over {} keys ({} parts in flight at least, {} frames in {:.1}s):",
        lat.len(),
        fly_min,
        frames_drawn,
        elapsed.as_secs_f64()
    );
    println!(
        "  p50 {:.2} ms   p99 {:.2} ms   max {:.2} ms   (target p99 <= 50 ms)",
        ms(percentile(&lat, 0.50)),
        ms(percentile(&lat, 0.99)),
        ms(*lat.last().unwrap())
    );
    println!(
        "  frame render alone: p50 {:.2} ms   p99 {:.2} ms   max {:.2} ms",
        ms(percentile(&durations, 0.50)),
        ms(percentile(&durations, 0.99)),
        ms(*durations.last().unwrap())
    );

    // Stop the engine (running jobs are cancelled; no journal in this bench) and end the loop
    // by closing its input.
    let _ = handle.commands.send(Command::Shutdown);
    drop(key_tx);
    let _ = tokio::time::timeout(Duration::from_secs(10), ui).await;
    let _ = tokio::time::timeout(Duration::from_secs(10), forwarder).await;
    srv.shutdown().await;
}
