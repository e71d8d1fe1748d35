//! UI render benchmark: frame time of the Queue with 100 jobs and of the Job detail of a
//! 10,000-part job, memory after loading 100,000 objects into Browse, and frame and key times
//! with a search (`/`) on a Queue of 10,000 jobs and a full Log (5,000 lines).
//!
//! Prints figures; asserts nothing about time. Run: `cargo bench --bench ui_render`.

use std::time::{Duration, Instant, SystemTime};

use crossterm::event::{KeyCode, KeyEvent, KeyModifiers};
use haul::engine::{
    BrowseRequest, Command, CopyOptions, CopySpec, Event, JobState, Listing, PlanSummary, Strategy,
};
use haul::store::{BucketInfo, BucketName, CosUri, ListObjectsPage, ObjectSummary};
use haul::ui::{App, Clock, UiOptions};
use ratatui::buffer::Buffer;
use ratatui::layout::Rect;

fn t0() -> SystemTime {
    SystemTime::UNIX_EPOCH + Duration::from_secs(1_795_000_000)
}

fn app() -> App {
    let mut o = UiOptions::new("bench");
    o.clock = Clock::manual(t0());
    let mut a = App::new(&o);
    a.resize(160, 48);
    a
}

fn key(c: KeyCode) -> KeyEvent {
    KeyEvent::new(c, KeyModifiers::NONE)
}

fn add_job(a: &mut App, id: u64, parts: u32, done: u32, fly: u32) {
    let part: u64 = 100 << 20;
    let spec = CopySpec {
        source: CosUri::parse(&format!("cos://media-1250000000/raw/take-{id:04}.mov")).unwrap(),
        destination: CosUri::parse(&format!("cos://backup-1250000000/raw/take-{id:04}.mov"))
            .unwrap(),
        options: CopyOptions::default(),
    };
    a.on_event(Event::JobAdded {
        id,
        spec,
        state: JobState::Queued,
        journaled: true,
    });
    a.on_event(Event::JobPlanned {
        id,
        plan: PlanSummary {
            size: parts as u64 * part,
            strategy: Strategy::Multipart {
                part_size: part,
                parts,
                ramp: haul::engine::plan::Ramp::NONE,
            },
            upload_id: Some(format!("upload-{id}")),
            parts_done: vec![],
            source_etag: "e".into(),
            source_crc64: None,
        },
    });
    a.on_event(Event::JobState {
        id,
        state: JobState::Running,
    });
    for p in 1..=done {
        a.on_event(Event::PartDone {
            job: id,
            part: p,
            bytes: part,
            elapsed: Duration::from_secs(8),
        });
    }
    for p in done + 1..=done + fly {
        a.on_event(Event::PartStarted {
            job: id,
            part: p,
            attempt: 1,
            at: t0() - Duration::from_secs(3),
        });
    }
}

fn frame_time(a: &App, w: u16, h: u16, frames: u32) -> Duration {
    let area = Rect::new(0, 0, w, h);
    let mut buf = Buffer::empty(area);
    // Warm up.
    for _ in 0..5 {
        buf.reset();
        a.render(area, &mut buf);
    }
    let start = Instant::now();
    for _ in 0..frames {
        buf.reset();
        a.render(area, &mut buf);
    }
    start.elapsed() / frames
}

fn status_kib(field: &str) -> Option<u64> {
    let s = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = s.lines().find(|l| l.starts_with(field))?;
    line.split_whitespace().nth(1)?.parse().ok()
}

fn main() {
    // Queue with 100 jobs.
    let mut a = app();
    for id in 1..=100 {
        add_job(&mut a, id, 400, (id as u32 * 3) % 400, 8);
    }
    a.handle_key(KeyEvent::new(KeyCode::Char('2'), KeyModifiers::NONE));
    for (w, h) in [(80, 24), (160, 48), (250, 70)] {
        let t = frame_time(&a, w, h, 200);
        println!(
            "queue, 100 jobs, {w}x{h}: {:.3} ms/frame",
            t.as_secs_f64() * 1e3
        );
    }

    // Job detail of a 10,000-part job.
    let mut a = app();
    add_job(&mut a, 1, 10_000, 6_000, 64);
    a.handle_key(KeyEvent::new(KeyCode::Char('2'), KeyModifiers::NONE));
    a.handle_key(key(KeyCode::Enter));
    for (w, h) in [(80, 24), (160, 48), (250, 70)] {
        let t = frame_time(&a, w, h, 200);
        println!(
            "job detail, 10,000 parts, {w}x{h}: {:.3} ms/frame",
            t.as_secs_f64() * 1e3
        );
    }

    // Browse: 100,000 objects loaded page by page (1,000 per page, as COS pages).
    let rss0 = status_kib("VmRSS:");
    let mut a = app();
    a.start();
    a.on_event(Event::Listing(Listing::Buckets(Ok(vec![BucketInfo {
        name: "media-1250000000".into(),
        region: "ap-shanghai".into(),
        created: None,
    }]))));
    let bucket = BucketName::parse("media-1250000000").unwrap();
    let mut cmds = a.handle_key(key(KeyCode::Enter));
    let load_start = Instant::now();
    let mut marker: Option<String> = None;
    for page in 0..100u32 {
        let objects: Vec<ObjectSummary> = (0..1000u32)
            .map(|i| ObjectSummary {
                key: format!("footage/2026/day-{page:03}/clip-{i:05}.mov"),
                size: (page as u64 * 1000 + i as u64) * 1_000_003,
                last_modified: time::OffsetDateTime::from_unix_timestamp(1_790_000_000 + i as i64)
                    .ok(),
                etag: format!("{:032x}", page as u64 * 1000 + i as u64),
                storage_class: "STANDARD".into(),
            })
            .collect();
        let next = objects.last().map(|o| o.key.clone());
        cmds.extend(a.on_event(Event::Listing(Listing::Objects {
            bucket: bucket.clone(),
            prefix: String::new(),
            marker: marker.clone(),
            page: Ok(ListObjectsPage {
                objects,
                common_prefixes: vec![],
                is_truncated: page < 99,
                next_marker: next.clone(),
            }),
        })));
        // Scroll to the end so the App asks for the next page, as a user would.
        cmds.extend(a.handle_key(key(KeyCode::End)));
        let asked = cmds.iter().any(|c| {
            matches!(
                c,
                Command::Browse(BrowseRequest::Objects {
                    marker: Some(_),
                    ..
                })
            )
        });
        if page < 99 && !asked {
            println!("browse: the App did not ask for page {} (bug)", page + 1);
            break;
        }
        cmds.clear();
        marker = next;
    }
    let load = load_start.elapsed();
    let rows = a.browse.stack.last().map(|l| l.rows.len()).unwrap_or(0);
    let rss1 = status_kib("VmRSS:");
    let hwm = status_kib("VmHWM:");
    println!(
        "browse: {rows} objects loaded in {:.1} ms (including filter/sort index per page)",
        load.as_secs_f64() * 1e3
    );
    if let (Some(r0), Some(r1), Some(h)) = (rss0, rss1, hwm) {
        println!(
            "browse memory: VmRSS {} KiB before, {} KiB after (+{} KiB, {:.0} B/object); VmHWM {} KiB",
            r0,
            r1,
            r1.saturating_sub(r0),
            r1.saturating_sub(r0) as f64 * 1024.0 / rows.max(1) as f64,
            h
        );
    }
    let t = frame_time(&a, 160, 48, 200);
    println!(
        "browse, 100,000 rows, 160x48: {:.3} ms/frame",
        t.as_secs_f64() * 1e3
    );
    let start = Instant::now();
    a.handle_key(KeyEvent::new(KeyCode::Char('s'), KeyModifiers::NONE));
    println!(
        "browse: re-sort 100,000 rows by size: {:.1} ms",
        start.elapsed().as_secs_f64() * 1e3
    );
    search_figures();
}

/// Typing a search on a Queue of 10,000 jobs and on a full Log: time per key (the filter is
/// recomputed) and per frame while it filters.
fn search_figures() {
    let mut a = app();
    for id in 1..=10_000 {
        add_job(&mut a, id, 40, (id as u32 * 3) % 40, (id % 2) as u32);
    }
    a.handle_key(KeyEvent::new(KeyCode::Char('2'), KeyModifiers::NONE));
    let t = frame_time(&a, 160, 48, 50);
    println!(
        "queue, 10,000 jobs, 160x48: {:.3} ms/frame",
        t.as_secs_f64() * 1e3
    );
    let start = Instant::now();
    for c in "/take-04".chars() {
        a.handle_key(KeyEvent::new(KeyCode::Char(c), KeyModifiers::NONE));
    }
    let per_key = start.elapsed() / 8;
    let shown = a.visible_jobs().len();
    let t = frame_time(&a, 160, 48, 50);
    println!(
        "queue, 10,000 jobs, search /take-04 ({shown} shown): {:.3} ms/key, {:.3} ms/frame",
        per_key.as_secs_f64() * 1e3,
        t.as_secs_f64() * 1e3
    );
    // As in a transfer: an engine event between frames, so each frame filters once again.
    let area = Rect::new(0, 0, 160, 48);
    let mut buf = Buffer::empty(area);
    let start = Instant::now();
    for i in 0..50u32 {
        a.on_event(Event::PartDone {
            job: 1,
            part: 40 - (i % 2),
            bytes: 1,
            elapsed: Duration::from_secs(1),
        });
        buf.reset();
        a.render(area, &mut buf);
    }
    println!(
        "queue, 10,000 jobs, search /take-04, one event per frame: {:.3} ms/frame",
        start.elapsed().as_secs_f64() * 1e3 / 50.0
    );

    let mut a = app();
    for i in 0..5_000 {
        a.on_event(Event::Log {
            level: haul::engine::LogLevel::Info,
            message: format!(
                "part {i} of cos://backup-1250000000/raw/take-{:04}.mov",
                i % 700
            ),
        });
    }
    a.handle_key(KeyEvent::new(KeyCode::Char('4'), KeyModifiers::NONE));
    let start = Instant::now();
    for c in "/take-0042".chars() {
        a.handle_key(KeyEvent::new(KeyCode::Char(c), KeyModifiers::NONE));
    }
    let per_key = start.elapsed() / 10;
    let t = frame_time(&a, 160, 48, 50);
    println!(
        "log, 5,000 lines, search /take-0042: {:.3} ms/key, {:.3} ms/frame",
        per_key.as_secs_f64() * 1e3,
        t.as_secs_f64() * 1e3
    );
}
