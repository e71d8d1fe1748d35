//! UI tests: the App driven by key events (asserting the Commands it sends) and every screen
//! and dialog rendered to ratatui's `TestBackend` with a fixed clock, snapshotted with insta at
//! 80×24 and 160×48.

use std::collections::BTreeMap;
use std::time::{Duration, SystemTime};

use crossterm::event::{KeyCode, KeyEvent, KeyModifiers, MouseButton, MouseEvent, MouseEventKind};
use haul::engine::{
    BrowseRequest, Command, CopyOptions, CopySpec, Event, JobState, Listing, LogLevel, Overwrite,
    PartSize, PlanSummary, Strategy, UploadSummary, Verification,
};
use haul::store::{
    BucketInfo, BucketName, CosUri, ListObjectsPage, ObjectHeaders, ObjectMeta, ObjectSummary, Op,
    RequestRecord, UploadInfo,
};
use haul::ui::browse::Load;
use haul::ui::{App, Clock, Control, UiOptions};
use ratatui::backend::TestBackend;
use ratatui::Terminal;
use time::OffsetDateTime;

mod defects;
mod s3;
mod search;

const T0: u64 = 1_795_000_000; // 2026-11-18, a fixed "now"

fn t0() -> SystemTime {
    SystemTime::UNIX_EPOCH + Duration::from_secs(T0)
}

fn odt(secs: i64) -> Option<OffsetDateTime> {
    OffsetDateTime::from_unix_timestamp(secs).ok()
}

fn bucket(s: &str) -> BucketName {
    BucketName::parse(s).unwrap()
}

fn uri(s: &str) -> CosUri {
    CosUri::parse(s).unwrap()
}

fn opts() -> UiOptions {
    let mut o = UiOptions::new("test");
    o.clock = Clock::manual(t0());
    o.no_color = false;
    o
}

fn new_app() -> App {
    let mut a = App::new(&opts());
    a.resize(80, 24);
    a
}

fn key(c: char) -> KeyEvent {
    KeyEvent::new(KeyCode::Char(c), KeyModifiers::NONE)
}

fn code(c: KeyCode) -> KeyEvent {
    KeyEvent::new(c, KeyModifiers::NONE)
}

fn ctrl(c: char) -> KeyEvent {
    KeyEvent::new(KeyCode::Char(c), KeyModifiers::CONTROL)
}

/// The commands `keys` send, without the copy dialog's region and existence lookups (tests
/// of those use `handle_key`).
fn press(app: &mut App, keys: &[KeyEvent]) -> Vec<Command> {
    keys.iter().flat_map(|k| app.handle_key(*k)).collect()
}

/// What keys sent in the copy dialog, apart from its background lookups (each bucket's region,
/// whether the destination exists): the lookups are counted, the rest returned.
fn without_lookups(cmds: Vec<Command>) -> (usize, Vec<Command>) {
    let (lookups, rest): (Vec<_>, Vec<_>) = cmds.into_iter().partition(|c| {
        matches!(
            c,
            Command::Browse(BrowseRequest::Region(_) | BrowseRequest::Exists(_))
        )
    });
    (lookups.len(), rest)
}

fn buckets() -> Vec<BucketInfo> {
    vec![
        BucketInfo {
            name: "media-1250000000".into(),
            region: "ap-shanghai".into(),
            created: odt(1_700_000_000),
        },
        BucketInfo {
            name: "backup-1250000000".into(),
            region: "ap-guangzhou".into(),
            created: odt(1_710_000_000),
        },
        BucketInfo {
            name: "archive-1250000000".into(),
            region: "ap-beijing".into(),
            created: odt(1_720_000_000),
        },
    ]
}

fn objects_page(prefix: &str, n: usize, more: bool) -> ListObjectsPage {
    ListObjectsPage {
        objects: (0..n)
            .map(|i| ObjectSummary {
                key: format!("{prefix}clip-{i:05}.mov"),
                size: (i as u64 + 1) * 3_000_000_000,
                last_modified: odt(1_790_000_000 + i as i64 * 3600),
                etag: format!("etag{i}"),
                storage_class: if i % 3 == 0 {
                    "STANDARD_IA".into()
                } else {
                    "STANDARD".into()
                },
            })
            .collect(),
        common_prefixes: if prefix.is_empty() {
            vec!["raw/".into(), "renders/".into()]
        } else {
            vec![]
        },
        is_truncated: more,
        next_marker: None,
    }
}

/// An app on the Browse screen inside media-1250000000 with one page of objects.
fn browsing() -> App {
    let mut a = new_app();
    a.start();
    a.on_event(Event::Listing(Listing::Buckets(Ok(buckets()))));
    let cmds = press(&mut a, &[code(KeyCode::Enter)]); // archive- sorts first
    assert!(matches!(
        &cmds[..],
        [Command::Browse(BrowseRequest::Objects { marker: None, .. })]
    ));
    // Open media instead: back, move to it.
    press(
        &mut a,
        &[code(KeyCode::Esc), key('G'), code(KeyCode::Enter)],
    );
    a.on_event(Event::Listing(Listing::Objects {
        bucket: bucket("media-1250000000"),
        prefix: String::new(),
        marker: None,
        page: Ok(objects_page("", 12, false)),
    }));
    a
}

fn spec(i: u64) -> CopySpec {
    CopySpec {
        source: uri(&format!("cos://media-1250000000/raw/take-{i:03}.mov")),
        destination: uri(&format!("cos://backup-1250000000/raw/take-{i:03}.mov")),
        options: CopyOptions::default(),
    }
}

fn plan(size: u64, part: u64) -> PlanSummary {
    PlanSummary {
        size,
        strategy: Strategy::Multipart {
            part_size: part,
            parts: size.div_ceil(part) as u32,
            ramp: haul::engine::plan::Ramp::NONE,
        },
        upload_id: Some("1700000000a1b2c3d4e5f6".into()),
        parts_done: vec![],
        source_etag: "etag".into(),
        source_crc64: Some(42),
    }
}

/// Adds a job and drives it: running for the last 10 minutes, `done` parts finished evenly
/// over that time, `fly` in flight for 3 s.
fn add_job(a: &mut App, id: u64, size: u64, part: u64, done: u32, fly: u32, state: JobState) {
    let clock = a.clock.clone();
    let start = t0() - Duration::from_secs(600);
    clock.set(start);
    a.on_event(Event::JobAdded {
        id,
        spec: spec(id),
        state: JobState::Queued,
        journaled: true,
    });
    a.on_event(Event::JobPlanned {
        id,
        plan: plan(size, part),
    });
    a.on_event(Event::JobState {
        id,
        state: JobState::Running,
    });
    let parts = size.div_ceil(part) as u32;
    let done = done.min(parts);
    for p in 1..=done {
        clock.set(start + Duration::from_millis(600_000 * p as u64 / done as u64));
        let bytes = part.min(size - (p as u64 - 1) * part);
        a.on_event(Event::PartDone {
            job: id,
            part: p,
            bytes,
            elapsed: Duration::from_secs(8),
        });
    }
    clock.set(t0());
    for p in done + 1..=(done + fly).min(parts) {
        a.on_event(Event::PartStarted {
            job: id,
            part: p,
            attempt: 1 + (p % 3),
            at: t0() - Duration::from_secs(3),
        });
    }
    if state != JobState::Running {
        a.on_event(Event::JobState { id, state });
    }
}

fn render(app: &mut App, w: u16, h: u16) -> String {
    app.resize(w, h);
    let mut term = Terminal::new(TestBackend::new(w, h)).unwrap();
    term.draw(|f| app.render(f.area(), f.buffer_mut())).unwrap();
    let buf = term.backend().buffer().clone();
    let mut out = String::new();
    for y in 0..h {
        let mut line = String::new();
        for x in 0..w {
            line.push_str(buf[(x, y)].symbol());
        }
        out.push_str(line.trim_end());
        out.push('\n');
    }
    out
}

/// Snapshots the app at 80×24 and 160×48.
fn snap(name: &str, app: &mut App) {
    let small = render(app, 80, 24);
    insta::assert_snapshot!(format!("{name}_80x24"), small);
    let large = render(app, 160, 48);
    insta::assert_snapshot!(format!("{name}_160x48"), large);
}

// ----- App behaviour: keys → commands --------------------------------------------------------

#[test]
fn start_lists_buckets_and_enter_opens_one() {
    let mut a = new_app();
    let cmds = a.start();
    assert!(matches!(
        &cmds[..],
        [Command::Browse(BrowseRequest::Buckets)]
    ));
    a.on_event(Event::Listing(Listing::Buckets(Ok(buckets()))));
    let cmds = press(&mut a, &[key('j'), code(KeyCode::Enter)]);
    match &cmds[..] {
        [Command::Browse(BrowseRequest::Objects {
            bucket,
            prefix,
            marker: None,
        })] => {
            assert_eq!(bucket.as_str(), "backup-1250000000");
            assert_eq!(prefix, "");
        }
        other => panic!("unexpected {other:?}"),
    }
}

#[test]
fn copy_dialog_queues_one_job_per_marked_object() {
    let mut a = browsing();
    // Rows: raw/, renders/, clip-00000 … ; mark two clips.
    let mut cmds = press(&mut a, &[key('j'), key('j'), key(' '), key(' '), key('c')]);
    // Type the destination bucket: clear the field and pick by filter.
    for _ in 0..30 {
        cmds.extend(press(&mut a, &[code(KeyCode::Backspace)]));
    }
    for c in "backup".chars() {
        cmds.extend(press(&mut a, &[key(c)]));
    }
    cmds.extend(press(&mut a, &[code(KeyCode::Enter)])); // accept the picked bucket
    let (lookups, cmds) = without_lookups(cmds);
    assert!(
        cmds.is_empty(),
        "only the dialog's lookups go out before Enter: {cmds:?}"
    );
    assert!(
        lookups > 0,
        "the dialog asks for regions and the destination"
    );
    // Prefix field: type "copies/"
    for _ in 0..30 {
        a.handle_key(code(KeyCode::Backspace));
    }
    for c in "copies/".chars() {
        a.handle_key(key(c));
    }
    let (_, cmds) = without_lookups(press(&mut a, &[code(KeyCode::Enter)]));
    let specs: Vec<&CopySpec> = cmds
        .iter()
        .map(|c| match c {
            Command::Enqueue(s) => s,
            other => panic!("unexpected {other:?}"),
        })
        .collect();
    assert_eq!(specs.len(), 2);
    assert_eq!(
        specs[0].source.to_string(),
        "cos://media-1250000000/clip-00000.mov"
    );
    assert_eq!(
        specs[0].destination.to_string(),
        "cos://backup-1250000000/copies/clip-00000.mov"
    );
    assert_eq!(
        specs[1].destination.to_string(),
        "cos://backup-1250000000/copies/clip-00001.mov"
    );
    assert!(a.dialog.is_none());
}

#[test]
fn copy_dialog_options_reach_the_spec_and_self_copy_is_refused() {
    let mut a = browsing();
    press(&mut a, &[key('j'), key('j'), key('c')]);
    // Pick the source bucket itself: same bucket and key, Enter refuses and sends nothing.
    for c in "media".chars() {
        a.handle_key(key(c));
    }
    press(&mut a, &[code(KeyCode::Tab)]);
    let cmds = press(&mut a, &[code(KeyCode::Enter)]);
    assert!(cmds.is_empty());
    match &a.dialog {
        Some(haul::ui::app::Dialog::Copy(d)) => {
            assert!(
                d.error.as_deref().unwrap_or("").contains("onto itself"),
                "{:?}",
                d.error
            )
        }
        other => panic!("dialog closed: {other:?}"),
    }
    // Change the key, set part size 64MiB, concurrency 8, storage class, skip existing.
    for c in ".bak".chars() {
        a.handle_key(key(c));
    }
    press(&mut a, &[code(KeyCode::Tab)]);
    for _ in 0..10 {
        a.handle_key(code(KeyCode::Backspace));
    }
    for c in "64MiB".chars() {
        a.handle_key(key(c));
    }
    press(&mut a, &[code(KeyCode::Tab)]);
    for _ in 0..10 {
        a.handle_key(code(KeyCode::Backspace));
    }
    a.handle_key(key('8'));
    press(
        &mut a,
        &[code(KeyCode::Tab), key('l'), code(KeyCode::Tab), key('l')],
    );
    let cmds = press(&mut a, &[code(KeyCode::Enter)]);
    match &cmds[..] {
        [Command::Enqueue(s)] => {
            assert_eq!(
                s.destination.to_string(),
                "cos://media-1250000000/clip-00000.mov.bak"
            );
            assert_eq!(s.options.part_size, PartSize::Fixed(64 << 20));
            assert_eq!(s.options.concurrency, Some(8));
            assert_eq!(s.options.storage_class.as_deref(), Some("STANDARD"));
            assert_eq!(s.options.overwrite, Overwrite::Skip);
        }
        other => panic!("unexpected {other:?}"),
    }
}

/// The destination a one-object copy dialog queues after `keys`.
fn copy_destination_after(keys: &[KeyEvent]) -> String {
    let mut a = browsing();
    press(&mut a, &[key('j'), key('j'), key('c')]);
    let (_, cmds) = without_lookups(press(&mut a, keys));
    match &cmds[..] {
        [Command::Enqueue(s)] => s.destination.to_string(),
        other => panic!("expected one copy, got {other:?} (dialog {:?})", a.dialog),
    }
}

#[test]
fn copy_dialog_bucket_picker_takes_the_highlighted_pick() {
    // Known buckets, sorted: archive, backup, media (the source).
    // Opened: every bucket listed, the pick on the first one that is not the source, so
    // Enter Enter never copies an object onto itself.
    assert_eq!(
        copy_destination_after(&[code(KeyCode::Enter), code(KeyCode::Enter)]),
        "cos://archive-1250000000/clip-00000.mov"
    );
    // ↓ moves the pick; Enter takes it (not the typed text), Enter again queues.
    assert_eq!(
        copy_destination_after(&[
            code(KeyCode::Down),
            code(KeyCode::Enter),
            code(KeyCode::Enter)
        ]),
        "cos://backup-1250000000/clip-00000.mov"
    );
    // Tab takes the pick too; ↑ wraps to the last bucket.
    assert_eq!(
        copy_destination_after(&[
            code(KeyCode::Down),
            code(KeyCode::Down),
            code(KeyCode::Up),
            code(KeyCode::Tab),
            code(KeyCode::Enter)
        ]),
        "cos://backup-1250000000/clip-00000.mov"
    );
    // Typing filters; the pick is the first match.
    assert_eq!(
        copy_destination_after(&[
            key('c'),
            key('k'),
            code(KeyCode::Enter),
            code(KeyCode::Enter)
        ]),
        "cos://backup-1250000000/clip-00000.mov"
    );
    // Back on the Bucket field the filter is empty again and the pick stays where it was;
    // typing there filters instead of appending to the chosen name.
    assert_eq!(
        copy_destination_after(&[
            code(KeyCode::Down),
            code(KeyCode::Tab),
            code(KeyCode::BackTab),
            code(KeyCode::Enter),
            code(KeyCode::Enter)
        ]),
        "cos://backup-1250000000/clip-00000.mov"
    );
    assert_eq!(
        copy_destination_after(&[
            code(KeyCode::Tab),
            code(KeyCode::BackTab),
            key('a'),
            key('r'),
            code(KeyCode::Enter),
            code(KeyCode::Enter)
        ]),
        "cos://archive-1250000000/clip-00000.mov"
    );
    // A bucket haul does not know, typed in full, is taken as typed.
    let typed: Vec<KeyEvent> = "other-1250000001"
        .chars()
        .map(key)
        .chain([code(KeyCode::Enter), code(KeyCode::Enter)])
        .collect();
    assert_eq!(
        copy_destination_after(&typed),
        "cos://other-1250000001/clip-00000.mov"
    );
}

#[test]
fn prefix_copy_is_one_transfer_the_engine_lists() {
    let mut a = browsing();
    // Cursor on raw/; copy to backup.
    press(&mut a, &[key('c')]);
    for _ in 0..30 {
        a.handle_key(code(KeyCode::Backspace));
    }
    for c in "backup-1250000000".chars() {
        a.handle_key(key(c));
    }
    // Enter takes the bucket, Enter again queues: one transfer of the prefix, no listing here.
    let cmds = press(&mut a, &[code(KeyCode::Enter), code(KeyCode::Enter)]);
    match &cmds[..] {
        [Command::Enqueue(spec)] => {
            assert_eq!(spec.source.to_string(), "cos://media-1250000000/raw/");
            assert_eq!(spec.destination.to_string(), "cos://backup-1250000000/raw/");
        }
        other => panic!("unexpected {other:?}"),
    }
}

#[test]
fn scrolling_near_the_end_asks_for_the_next_page_without_blocking_input() {
    let mut a = new_app();
    a.start();
    a.on_event(Event::Listing(Listing::Buckets(Ok(buckets()))));
    press(&mut a, &[code(KeyCode::Enter)]);
    let cmds = a.on_event(Event::Listing(Listing::Objects {
        bucket: bucket("archive-1250000000"),
        prefix: String::new(),
        marker: None,
        page: Ok(objects_page("", 1000, true)),
    }));
    assert!(cmds.is_empty(), "first page far from the end: {cmds:?}");
    let mut asked = Vec::new();
    for _ in 0..60 {
        asked.extend(a.handle_key(code(KeyCode::PageDown)));
    }
    let markers: Vec<_> = asked
        .iter()
        .filter_map(|c| match c {
            Command::Browse(BrowseRequest::Objects { marker, .. }) => marker.clone(),
            _ => None,
        })
        .collect();
    assert_eq!(
        markers,
        vec!["clip-00999.mov".to_string()],
        "exactly one request while it loads"
    );
    // Input keeps working while the page is in flight.
    press(&mut a, &[key('g')]);
    assert_eq!(a.browse.stack.last().unwrap().cursor, 0);
}

#[test]
fn pause_resume_cancel_and_retry_send_commands() {
    let mut a = new_app();
    add_job(&mut a, 1, 10 << 30, 1 << 30, 3, 2, JobState::Running);
    press(&mut a, &[key('2')]);
    assert!(matches!(
        press(&mut a, &[key('p')])[..],
        [Command::Pause(1)]
    ));
    a.on_event(Event::JobState {
        id: 1,
        state: JobState::Paused,
    });
    assert!(matches!(
        press(&mut a, &[key('p')])[..],
        [Command::Resume(1)]
    ));
    assert!(matches!(
        press(&mut a, &[key('x')])[..],
        [Command::Cancel(1)]
    ));
    a.on_event(Event::JobState {
        id: 1,
        state: JobState::Failed("boom".into()),
    });
    assert!(matches!(
        press(&mut a, &[key('r')])[..],
        [Command::Retry(1)]
    ));
    assert!(matches!(
        press(&mut a, &[key('F')])[..],
        [Command::Retry(1)]
    ));
    assert!(matches!(
        press(&mut a, &[key('P')])[..],
        [Command::PauseAll]
    ));
    assert!(matches!(
        press(&mut a, &[key('U')])[..],
        [Command::ResumeAll]
    ));
    // C asks first (ui_transfers:: tests the question), then clears every finished one.
    assert!(matches!(
        press(&mut a, &[key('C'), key('y')])[..],
        [Command::ClearFinished]
    ));
}

#[test]
fn interrupted_job_at_start_resumes_with_r() {
    let mut a = new_app();
    a.on_event(Event::JobAdded {
        id: 7,
        spec: spec(7),
        state: JobState::Interrupted,
        journaled: true,
    });
    press(&mut a, &[key('2')]);
    assert!(matches!(
        press(&mut a, &[key('r')])[..],
        [Command::Resume(7)]
    ));
}

#[test]
fn concurrency_keys_set_the_selected_jobs_limit() {
    let mut a = new_app();
    add_job(&mut a, 1, 10 << 30, 1 << 30, 3, 2, JobState::Running);
    a.on_event(Event::Concurrency {
        global_limit: 32,
        effective: 30,
        job: Some((1, 4)),
    });
    press(&mut a, &[key('2')]);
    assert!(matches!(
        press(&mut a, &[key('+')])[..],
        [Command::SetConcurrency { job: Some(1), n: 5 }]
    ));
    assert!(matches!(
        press(&mut a, &[key('-'), key('-')])[..],
        [
            Command::SetConcurrency { n: 4, .. },
            Command::SetConcurrency { n: 3, .. }
        ]
    ));
}

#[test]
fn abort_asks_first_and_defaults_to_no() {
    let mut a = new_app();
    add_job(&mut a, 1, 10 << 30, 1 << 30, 3, 2, JobState::Running);
    press(&mut a, &[key('2')]);
    assert!(press(&mut a, &[key('A')]).is_empty());
    assert!(a.dialog.is_some());
    // Enter on the default button (No) does nothing.
    assert!(press(&mut a, &[code(KeyCode::Enter)]).is_empty());
    assert!(a.dialog.is_none());
    // n and Esc also say no.
    assert!(press(&mut a, &[key('A'), key('n')]).is_empty());
    assert!(press(&mut a, &[key('A'), code(KeyCode::Esc)]).is_empty());
    // l moves to Abort, Enter confirms; y confirms directly.
    assert!(matches!(
        press(&mut a, &[key('A'), key('l'), code(KeyCode::Enter)])[..],
        [Command::Abort(1)]
    ));
    assert!(matches!(
        press(&mut a, &[key('A'), key('y')])[..],
        [Command::Abort(1)]
    ));
}

#[test]
fn quit_with_running_jobs_asks_and_pause_and_quit_pauses_them() {
    let mut a = new_app();
    add_job(&mut a, 1, 10 << 30, 1 << 30, 3, 2, JobState::Running);
    add_job(&mut a, 2, 10 << 30, 1 << 30, 0, 0, JobState::Queued);
    add_job(&mut a, 3, 1 << 30, 1 << 30, 1, 0, JobState::Done);
    assert!(press(&mut a, &[key('q')]).is_empty());
    assert_eq!(a.control, Control::None);
    // Stay.
    assert!(press(&mut a, &[key('n')]).is_empty());
    assert_eq!(a.control, Control::None);
    // Pause and quit is the highlighted choice.
    let cmds = press(&mut a, &[key('q'), code(KeyCode::Enter)]);
    assert!(
        matches!(
            cmds[..],
            [Command::Pause(1), Command::Pause(2), Command::Shutdown]
        ),
        "{cmds:?}"
    );
    assert_eq!(a.control, Control::Quit);
}

#[test]
fn quit_and_abort_aborts_unfinished_jobs() {
    let mut a = new_app();
    add_job(&mut a, 1, 10 << 30, 1 << 30, 3, 2, JobState::Running);
    let cmds = press(&mut a, &[ctrl('c'), key('l'), code(KeyCode::Enter)]);
    assert!(
        matches!(cmds[..], [Command::Abort(1), Command::Shutdown]),
        "{cmds:?}"
    );
}

#[test]
fn quit_without_jobs_shuts_down_at_once() {
    let mut a = new_app();
    assert!(matches!(
        press(&mut a, &[key('q')])[..],
        [Command::Shutdown]
    ));
    assert_eq!(a.control, Control::Quit);
}

#[test]
fn uploads_abort_confirms_exactly_what_is_deleted() {
    let mut a = browsing();
    let cmds = press(&mut a, &[key('3')]);
    assert!(matches!(
        &cmds[..],
        [Command::Browse(BrowseRequest::Uploads { .. })]
    ));
    a.on_event(Event::Listing(uploads_listing()));
    press(&mut a, &[key(' '), key(' ')]);
    assert!(press(&mut a, &[key('A')]).is_empty());
    match &a.dialog {
        Some(haul::ui::app::Dialog::Confirm(c)) => {
            let text = c.lines.join("\n");
            assert!(
                text.contains("raw/a.mov") && text.contains("upl-0001"),
                "{text}"
            );
            assert!(
                text.contains("raw/b.mov") && text.contains("upl-0002"),
                "{text}"
            );
            assert!(!text.contains("raw/c.mov"), "{text}");
        }
        other => panic!("no confirm: {other:?}"),
    }
    let cmds = press(&mut a, &[key('y')]);
    match &cmds[..] {
        [Command::AbortUploads { bucket, uploads }] => {
            assert_eq!(bucket.as_str(), "media-1250000000");
            assert_eq!(
                uploads,
                &vec![
                    ("raw/a.mov".into(), "upl-0001".into()),
                    ("raw/b.mov".into(), "upl-0002".into())
                ]
            );
        }
        other => panic!("unexpected {other:?}"),
    }
    // r on an upload the journal knows resumes its job.
    press(&mut a, &[key('g')]);
    assert!(matches!(
        press(&mut a, &[key('r')])[..],
        [Command::Resume(11)]
    ));
}

/// The (bucket, prefix) an Uploads listing command asks for.
fn uploads_request(cmds: &[Command]) -> (String, String) {
    match cmds {
        [Command::Browse(BrowseRequest::Uploads { bucket, prefix })] => {
            (bucket.to_string(), prefix.clone())
        }
        other => panic!("expected one uploads listing, got {other:?}"),
    }
}

#[test]
fn uploads_screen_switches_buckets_one_key_to_job_destinations() {
    let mut a = browsing();
    // A job copies media → backup: its destination comes first in the cycle.
    add_job(&mut a, 1, 10 << 30, 1 << 30, 2, 2, JobState::Running);
    // Defaults to the Browse location.
    let cmds = press(&mut a, &[key('3')]);
    assert_eq!(
        uploads_request(&cmds),
        ("media-1250000000".into(), String::new())
    );
    a.on_event(Event::Listing(Listing::Uploads {
        bucket: bucket("media-1250000000"),
        prefix: String::new(),
        uploads: Ok(vec![]),
    }));
    let screen = render(&mut a, 120, 24);
    assert!(
        screen.contains("Jobs are copying into backup-1250000000: press b to see its uploads."),
        "{screen}"
    );
    // From Browse's bucket, b: the job's destination, the other known ones, back to Browse's;
    // B goes back.
    let mut a = browsing();
    add_job(&mut a, 1, 10 << 30, 1 << 30, 2, 2, JobState::Running);
    press(&mut a, &[key('3')]);
    let order: Vec<String> = (0..4)
        .map(|_| uploads_request(&press(&mut a, &[key('b')])).0)
        .collect();
    assert_eq!(
        order,
        [
            "backup-1250000000",
            "archive-1250000000",
            "media-1250000000",
            "backup-1250000000"
        ]
    );
    assert_eq!(
        uploads_request(&press(&mut a, &[key('B')])).0,
        "media-1250000000"
    );
    press(&mut a, &[key('B')]);
    // The bucket picked stays while Browse does not move; the listing for it is shown.
    press(&mut a, &[key('1'), key('3')]);
    assert_eq!(
        a.uploads.target.as_ref().map(|t| t.0.to_string()),
        Some("archive-1250000000".into())
    );
    // Browse moving somewhere else makes the screen follow it again.
    press(&mut a, &[key('1'), code(KeyCode::Enter)]); // into raw/
    let cmds = press(&mut a, &[key('3')]);
    assert_eq!(
        uploads_request(&cmds),
        ("media-1250000000".into(), "raw/".into())
    );
    // The footer and help offer the key.
    let screen = render(&mut a, 120, 24);
    assert!(
        screen.lines().last().unwrap_or("").contains("b bucket"),
        "{screen}"
    );
    press(&mut a, &[key('?')]);
    let help: String = (0..12)
        .map(|_| {
            press(&mut a, &[key('j'), key('j'), key('j'), key('j')]);
            render(&mut a, 120, 24)
        })
        .collect();
    assert!(
        help.contains("bucket: show the next one's uploads"),
        "{help}"
    );
}

#[test]
fn uploads_screen_without_a_browse_location_shows_a_job_destination() {
    let mut a = new_app();
    a.start();
    a.on_event(Event::Listing(Listing::Buckets(Ok(buckets()))));
    add_job(&mut a, 1, 10 << 30, 1 << 30, 2, 2, JobState::Running);
    let cmds = press(&mut a, &[key('3')]);
    assert_eq!(
        uploads_request(&cmds),
        ("backup-1250000000".into(), String::new())
    );
}

#[test]
fn info_heads_the_object() {
    let mut a = browsing();
    let cmds = press(&mut a, &[key('j'), key('j'), key('i')]);
    match &cmds[..] {
        [Command::Browse(BrowseRequest::HeadObject(u))] => {
            assert_eq!(u.to_string(), "cos://media-1250000000/clip-00000.mov")
        }
        other => panic!("unexpected {other:?}"),
    }
}

#[test]
fn mouse_selects_tabs_and_rows_and_wheel_scrolls() {
    let mut a = browsing();
    a.handle_mouse(MouseEvent {
        kind: MouseEventKind::Down(MouseButton::Left),
        column: 5,
        row: 5,
        modifiers: KeyModifiers::NONE,
    });
    assert_eq!(
        a.browse.stack.last().unwrap().cursor,
        2,
        "list rows start at row 3"
    );
    a.handle_mouse(MouseEvent {
        kind: MouseEventKind::ScrollDown,
        column: 5,
        row: 4,
        modifiers: KeyModifiers::NONE,
    });
    assert_eq!(a.browse.stack.last().unwrap().cursor, 3);
    let tabs = haul::ui::views::tab_spans(80);
    let (screen, x0, _) = tabs[1];
    a.handle_mouse(MouseEvent {
        kind: MouseEventKind::Down(MouseButton::Left),
        column: x0 + 1,
        row: 0,
        modifiers: KeyModifiers::NONE,
    });
    assert_eq!(a.screen, screen);
}

#[test]
fn user_keymap_rebinding_works_and_shows_in_help() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("keys.toml");
    std::fs::write(
        &path,
        "[[queue]]\nkeys = [\"z\"]\naction = \"pause_resume\"\ndesc = \"zzz pause\"\n",
    )
    .unwrap();
    let mut o = opts();
    o.keymap_path = Some(path);
    let mut a = App::new(&o);
    add_job(&mut a, 1, 10 << 30, 1 << 30, 3, 2, JobState::Running);
    press(&mut a, &[key('2')]);
    assert!(matches!(
        press(&mut a, &[key('z')])[..],
        [Command::Pause(1)]
    ));
    press(&mut a, &[key('?')]);
    let screen = render(&mut a, 80, 60);
    assert!(screen.contains("zzz pause"), "{screen}");
    // Help scrolls with j and closes with Esc.
    press(&mut a, &[key('j'), key('j')]);
    assert!(
        matches!(
            a.dialog,
            Some(haul::ui::app::Dialog::Help { scroll: 2, .. })
        ),
        "{:?}",
        a.dialog
    );
    press(&mut a, &[code(KeyCode::Esc)]);
    assert!(a.dialog.is_none());
}

#[test]
fn tiny_and_odd_sizes_render_without_panicking() {
    let mut a = browsing();
    add_job(&mut a, 1, 1 << 40, 100 << 20, 5000, 16, JobState::Running);
    for screen in ['1', '2', '3', '4'] {
        press(&mut a, &[key(screen)]);
        for (w, h) in [
            (1, 1),
            (10, 3),
            (20, 5),
            (30, 8),
            (79, 23),
            (200, 10),
            (40, 60),
        ] {
            render(&mut a, w, h);
        }
    }
    press(&mut a, &[key('2'), code(KeyCode::Enter)]);
    for (w, h) in [(1, 1), (20, 5), (25, 9), (80, 10), (300, 100)] {
        render(&mut a, w, h);
    }
    press(&mut a, &[key('?')]);
    render(&mut a, 21, 6);
}

// ----- snapshots -----------------------------------------------------------------------------

fn uploads_listing() -> Listing {
    let up = |k: &str, id: &str, parts: u32, job: Option<u64>| UploadSummary {
        upload: UploadInfo {
            key: k.into(),
            upload_id: id.into(),
            initiated: odt(1_794_000_000),
            storage_class: None,
        },
        parts,
        bytes: parts as u64 * (256 << 20),
        job,
    };
    Listing::Uploads {
        bucket: bucket("media-1250000000"),
        prefix: String::new(),
        uploads: Ok(vec![
            up("raw/a.mov", "upl-0001", 120, Some(11)),
            up("raw/b.mov", "upl-0002", 7, None),
            up("raw/c.mov", "upl-0003", 0, None),
        ]),
    }
}

#[test]
fn snapshot_buckets() {
    let mut a = new_app();
    a.start();
    snap("buckets_loading", &mut a);
    a.on_event(Event::Listing(Listing::Buckets(Ok(buckets()))));
    snap("buckets", &mut a);
}

#[test]
fn snapshot_buckets_empty_and_denied() {
    let mut a = new_app();
    a.start();
    a.on_event(Event::Listing(Listing::Buckets(Ok(vec![]))));
    snap("buckets_none", &mut a);
    let mut o = opts();
    o.access_paths = vec![
        uri("cos://media-1250000000/projects/"),
        uri("cos://shared-1300000000/"),
    ];
    let mut a = App::new(&o);
    a.start();
    a.on_event(Event::Listing(Listing::Buckets(Err(
        "AccessDenied: the account may not call GetService (request 5f1c0e)".into(),
    ))));
    snap("buckets_denied_access_paths", &mut a);
    let cmds = press(&mut a, &[code(KeyCode::Enter)]);
    assert!(
        matches!(&cmds[..], [Command::Browse(BrowseRequest::Objects { prefix, .. })] if prefix == "projects/")
    );
}

#[test]
fn snapshot_objects() {
    let mut a = browsing();
    press(&mut a, &[key('j'), key('j'), key(' '), key('j'), key(' ')]);
    snap("objects_marked", &mut a);
    press(&mut a, &[key('s')]);
    snap("objects_by_size", &mut a);
    press(&mut a, &[key('/'), key('0'), key('0'), key('0'), key('1')]);
    snap("objects_filter_typing", &mut a);
}

#[test]
fn snapshot_objects_failed_and_empty() {
    let mut a = new_app();
    a.start();
    a.on_event(Event::Listing(Listing::Buckets(Ok(buckets()))));
    press(&mut a, &[code(KeyCode::Enter)]);
    snap("objects_loading", &mut a);
    a.on_event(Event::Listing(Listing::Objects {
        bucket: bucket("archive-1250000000"),
        prefix: String::new(),
        marker: None,
        page: Err("AccessDenied: no permission to list archive-1250000000 (request 9a8b7c)".into()),
    }));
    snap("objects_failed", &mut a);
    press(
        &mut a,
        &[code(KeyCode::Esc), key('j'), code(KeyCode::Enter)],
    );
    a.on_event(Event::Listing(Listing::Objects {
        bucket: bucket("backup-1250000000"),
        prefix: String::new(),
        marker: None,
        page: Ok(ListObjectsPage::default()),
    }));
    snap("objects_empty", &mut a);
}

#[test]
fn failed_next_page_keeps_the_rows_and_r_retries_that_page() {
    let mut a = new_app();
    a.start();
    a.on_event(Event::Listing(Listing::Buckets(Ok(buckets()))));
    press(&mut a, &[code(KeyCode::Enter)]); // archive-1250000000
    let archive = || bucket("archive-1250000000");
    // The first page says more follow: the next is asked for at once (the cursor is near).
    let cmds = a.on_event(Event::Listing(Listing::Objects {
        bucket: archive(),
        prefix: String::new(),
        marker: None,
        page: Ok(objects_page("", 12, true)),
    }));
    let marker = Some("clip-00011.mov".to_string());
    assert!(
        matches!(&cmds[..], [Command::Browse(BrowseRequest::Objects { marker: m, .. })] if *m == marker),
        "{cmds:?}"
    );
    press(&mut a, &[key('j'), key(' ')]); // mark renders/
    a.on_event(Event::Listing(Listing::Objects {
        bucket: archive(),
        prefix: String::new(),
        marker: marker.clone(),
        page: Err("503 ServiceUnavailable (request 42)".into()),
    }));
    let rows = |a: &App| a.browse.stack.last().map(|l| l.rows.len()).unwrap_or(0);
    assert_eq!(rows(&a), 14, "the loaded rows stay");
    let screen = render(&mut a, 80, 24);
    assert!(
        screen.contains("Next page failed: press R to retry (14 rows loaded stay)"),
        "{screen}"
    );
    assert!(
        screen.contains("14 rows, listing failed: R retries"),
        "{screen}"
    );
    snap("objects_next_page_failed", &mut a);
    // In a short terminal the failure line takes the last body row; the rows stop above it
    // and a click there selects nothing.
    let short = render(&mut a, 80, 10);
    let lines: Vec<&str> = short.lines().collect();
    assert!(lines[6].contains("clip-00001.mov"), "{short}");
    assert!(lines[7].starts_with("Next page failed"), "{short}");
    assert_eq!(haul::ui::views::row_at(&a, 6), Some(3));
    assert_eq!(haul::ui::views::row_at(&a, 7), None);
    // Moving does not hammer the failed page; R asks for exactly that page again.
    assert!(press(&mut a, &[key('G')]).is_empty());
    let cmds = press(&mut a, &[key('R')]);
    match &cmds[..] {
        [Command::Browse(BrowseRequest::Objects {
            bucket,
            prefix,
            marker: m,
        })] => {
            assert_eq!(bucket, &archive());
            assert_eq!(prefix, "");
            assert_eq!(m, &marker);
        }
        other => panic!("unexpected {other:?}"),
    }
    assert_eq!(rows(&a), 14, "retrying keeps the rows and marks");
    assert_eq!(a.browse.stack.last().unwrap().marked_count(), 1);
    let mut next = objects_page("", 3, false);
    next.common_prefixes.clear();
    for (i, o) in next.objects.iter_mut().enumerate() {
        o.key = format!("zz-{i}.mov");
    }
    a.on_event(Event::Listing(Listing::Objects {
        bucket: archive(),
        prefix: String::new(),
        marker,
        page: Ok(next),
    }));
    assert_eq!(rows(&a), 17);
    assert_eq!(a.browse.stack.last().unwrap().load, Load::Complete);
    // With nothing failed, R reloads the listing from the start.
    let cmds = press(&mut a, &[key('R')]);
    assert!(
        matches!(
            &cmds[..],
            [Command::Browse(BrowseRequest::Objects { marker: None, .. })]
        ),
        "{cmds:?}"
    );
}

#[test]
fn failed_first_page_says_how_to_retry() {
    let mut a = new_app();
    a.start();
    a.on_event(Event::Listing(Listing::Buckets(Ok(buckets()))));
    press(&mut a, &[code(KeyCode::Enter)]);
    a.on_event(Event::Listing(Listing::Objects {
        bucket: bucket("archive-1250000000"),
        prefix: String::new(),
        marker: None,
        page: Err("connection reset".into()),
    }));
    let screen = render(&mut a, 80, 24);
    assert!(
        screen.contains("Listing failed: press R to retry, Bksp to go back."),
        "{screen}"
    );
    let cmds = press(&mut a, &[key('R')]);
    assert!(
        matches!(
            &cmds[..],
            [Command::Browse(BrowseRequest::Objects { marker: None, .. })]
        ),
        "{cmds:?}"
    );
}

#[test]
fn snapshot_details() {
    let mut a = browsing();
    press(&mut a, &[key('j'), key('j'), key('i')]);
    snap("details_loading", &mut a);
    let mut meta = BTreeMap::new();
    meta.insert("camera".to_string(), "A7S3".to_string());
    a.on_event(Event::Listing(Listing::Object {
        uri: uri("cos://media-1250000000/clip-00000.mov"),
        meta: Ok(ObjectMeta {
            size: 3_000_000_000,
            etag: "d41d8cd98f00b204e9800998ecf8427e-12".into(),
            last_modified: odt(1_790_000_000),
            crc64: Some(12345678901234567890),
            crc64nvme: None,
            storage_class: "STANDARD_IA".into(),
            headers: ObjectHeaders {
                content_type: Some("video/quicktime".into()),
                meta,
                ..Default::default()
            },
        }),
    }));
    snap("details", &mut a);
}

#[test]
fn snapshot_copy_dialog() {
    let mut a = browsing();
    press(&mut a, &[key('j'), key('j'), key(' '), key(' '), key(' ')]);
    press(&mut a, &[key('c')]);
    for _ in 0..30 {
        a.handle_key(code(KeyCode::Backspace));
    }
    a.handle_key(key('b'));
    snap("copy_dialog_bucket_picker", &mut a);
    press(
        &mut a,
        &[
            code(KeyCode::Enter),
            code(KeyCode::Tab),
            code(KeyCode::Tab),
            code(KeyCode::Tab),
        ],
    );
    snap("copy_dialog_storage_class", &mut a);
    let mut a = browsing();
    press(&mut a, &[key('j'), key('j'), key('c')]);
    snap("copy_dialog_opened", &mut a);
    press(
        &mut a,
        &[key('m'), code(KeyCode::Tab), code(KeyCode::Enter)],
    );
    snap("copy_dialog_error", &mut a);
}

/// At every width a popup's rows show nothing from underneath right beside its border: either
/// the popup reaches the screen edge or at least two blank columns separate it from the screen.
#[test]
fn popups_never_bleed_beside_their_border() {
    let mut a = browsing();
    press(&mut a, &[key('j'), key('j'), key('c')]);
    let mut help = browsing();
    press(&mut help, &[key('?')]);
    for app in [&mut a, &mut help] {
        for w in 60..=120u16 {
            let screen = render(app, w, 30);
            for line in screen.lines().filter(|l| l.contains('│')) {
                let chars: Vec<char> = line.chars().collect();
                let left = chars.iter().position(|&c| c == '│').unwrap_or(0);
                let right = chars.iter().rposition(|&c| c == '│').unwrap_or(0);
                let near = |from: usize, to: usize| {
                    chars[from.min(chars.len())..to.min(chars.len())]
                        .iter()
                        .any(|c| *c != ' ')
                };
                assert!(
                    !near(left.saturating_sub(2), left) && !near(right + 1, right + 3),
                    "background bleeds beside the popup at width {w}: {line:?}"
                );
            }
        }
    }
}

/// The status line's second-to-last row of the rendered screen.
fn status_row(app: &mut App) -> String {
    let screen = render(app, 80, 24);
    screen.lines().nth(22).unwrap_or_default().to_string()
}

#[test]
fn status_notes_expire_on_the_app_clock_and_on_navigation() {
    let mut a = browsing();
    press(&mut a, &[key('s')]);
    assert!(
        status_row(&mut a).starts_with("sorted by"),
        "{}",
        status_row(&mut a)
    );
    a.clock.advance(Duration::from_millis(4_900));
    assert!(status_row(&mut a).starts_with("sorted by"));
    a.clock.advance(Duration::from_millis(200));
    assert_eq!(status_row(&mut a), "", "a note is gone after 5 s");
    assert!(a.expire_status(), "the run loop is told to redraw");
    assert!(a.status.is_none());

    // The next screen drops a note …
    press(&mut a, &[key('s')]);
    press(&mut a, &[key('4')]);
    assert_eq!(status_row(&mut a), "");
    // … but an error stays across screens and for longer.
    a.set_error("listing failed: access denied");
    press(&mut a, &[key('1')]);
    a.clock.advance(Duration::from_secs(20));
    assert_eq!(status_row(&mut a), "listing failed: access denied");
    a.clock.advance(Duration::from_secs(11));
    assert_eq!(status_row(&mut a), "");
}

fn many_jobs() -> App {
    let mut a = new_app();
    for id in 1..=100u64 {
        let size = (id % 7 + 1) * (37 << 30);
        let part = 256 << 20;
        let parts = size.div_ceil(part) as u32;
        let (done, fly, state) = match id % 10 {
            0 => (parts, 0, JobState::Done),
            1 => (parts / 3, 0, JobState::Paused),
            2 => (0, 0, JobState::Queued),
            3 => (
                parts / 2,
                0,
                JobState::Failed("source changed (412 PreconditionFailed)".into()),
            ),
            4 => (parts / 5, 0, JobState::Interrupted),
            _ => ((id as u32 * 7) % parts, 8, JobState::Running),
        };
        add_job(&mut a, id, size, part, done, fly, state);
    }
    a.on_event(Event::Concurrency {
        global_limit: 64,
        effective: 48,
        job: None,
    });
    a
}

#[test]
fn queue_rows_show_both_ends_of_the_route_and_whole_states_at_every_width() {
    let mut a = many_jobs();
    press(&mut a, &[key('2')]);
    // Moving the cursor replaces the last feedback with the selected job's whole route.
    a.status = Some("queued 100 copies".into());
    press(&mut a, &[key('j'), key('k')]);
    assert!(a.status.is_none());
    for w in [80u16, 100, 120, 160] {
        let screen = render(&mut a, w, 30);
        let lines: Vec<&str> = screen.lines().collect();
        let header = lines[3];
        assert!(header.trim_end().ends_with("RT"), "{w} cols: {header}");
        let row = lines.iter().find(|l| l.starts_with("interrupted")).unwrap();
        // The destination bucket and the file name are visible on every row.
        assert!(row.contains("backup"), "{w} cols: {row}");
        assert!(row.contains(".mov"), "{w} cols: {row}");
        if w >= 100 {
            assert!(
                row.contains("media → backup: raw/take-004.mov")
                    || row.contains("media/raw/take-004.mov → backup/raw/take-004.mov")
                    || row.contains(
                        "media-1250000000/raw/take-004.mov → backup-1250000000/raw/take-004.mov"
                    ),
                "{w} cols: {row}"
            );
        }
        // The selected job's whole route is on the status line.
        let status = lines[lines.len() - 2];
        let want = if w >= 100 {
            "job 1: cos://media-1250000000/raw/take-001.mov → cos://backup-1250000000/raw/take-001.mov"
        } else {
            "job 1: media-1250000000/raw/take-001.mov → backup-1250000000/raw/take-001.mov"
        };
        assert_eq!(status, want, "{w} cols");
    }
}

#[test]
fn queue_route_cuts_each_side_in_the_middle() {
    use haul::ui::views::queue::{middle, route};
    let (s, d) = (
        uri("cos://media-1250000000/raw/2026/day-01/take-001.mov"),
        uri("cos://backup-1250000000/copies/take-001.mov"),
    );
    assert_eq!(
        route(&s, &d, 200),
        "media-1250000000/raw/2026/day-01/take-001.mov → backup-1250000000/copies/take-001.mov"
    );
    assert_eq!(
        route(&s, &d, 64),
        "media/raw/2026/day-01/take-001.mov → backup/copies/take-001.mov"
    );
    let r = route(&s, &d, 40);
    assert_eq!(r.chars().count(), 40, "{r}");
    assert!(
        r.starts_with("media/…") && r.contains("-001.mov → backup/…") && r.ends_with("-001.mov"),
        "{r}"
    );
    assert_eq!(route(&s, &d, 20), "→ backup/…ke-001.mov");
    // The same key into another bucket names the key once.
    let kept = uri("cos://backup-1250000000/raw/2026/day-01/take-001.mov");
    assert_eq!(
        route(&s, &kept, 50),
        "media → backup: raw/2026/day-01/take-001.mov"
    );
    assert_eq!(
        route(&s, &kept, 40),
        "media → backup: raw/…day-01/take-001.mov"
    );
    assert_eq!(route(&s, &kept, 30), "media → backup: raw/…e-001.mov");
    // Same bucket: the destination is its key.
    let same = uri("cos://media-1250000000/raw/take-001.bak");
    assert_eq!(
        route(&s, &same, 80),
        "media-1250000000/raw/2026/day-01/take-001.mov → raw/take-001.bak"
    );
    assert_eq!(middle("abcdef", 6), "abcdef");
    assert_eq!(middle("backup/raw/take-001.mov", 12), "back…001.mov");
}

#[test]
fn snapshot_queue() {
    let mut a = new_app();
    press(&mut a, &[key('2')]);
    snap("queue_empty", &mut a);
    let mut a = many_jobs();
    press(&mut a, &[key('2'), key('j'), key('j')]);
    snap("queue_many", &mut a);
    press(&mut a, &[key('f')]);
    snap("queue_filter_active", &mut a);
    // A failed job's reason shows in the status line while it is selected.
    let mut a = many_jobs();
    press(&mut a, &[key('2'), key('j'), key('j')]);
    a.status = None;
    let screen = render(&mut a, 80, 24);
    assert!(screen.contains("job 3 failed: source changed"), "{screen}");
}

fn big_job() -> App {
    let mut a = new_app();
    let part = 100 << 20;
    let size = 10_000 * part - 12345;
    add_job(&mut a, 42, size, part, 6_000, 16, JobState::Running);
    for p in [6_100u32, 7_777] {
        a.on_event(Event::PartRetrying {
            job: 42,
            part: p,
            attempt: 2,
            after: Duration::from_millis(1500),
            error: "503 SlowDown: please reduce your request rate (request 5f1c0e7a)".into(),
        });
    }
    a.on_event(Event::PartFailed {
        job: 42,
        part: 9_999,
        error: "403 AccessDenied on UploadPartCopy cos://backup-1250000000/raw/take-042.mov part 9999 (request 77aa): check the destination bucket's policy".into(),
    });
    a
}

#[test]
fn snapshot_job_detail_10000_parts() {
    let mut a = big_job();
    press(&mut a, &[key('2'), code(KeyCode::Enter)]);
    snap("job_detail_10000_parts", &mut a);
    // Without colour the part states are told apart by shape: this snapshot shows them.
    let mut o = opts();
    o.no_color = true;
    let mut b = App::new(&o);
    b.jobs = a.jobs.clone();
    press(&mut b, &[key('2'), code(KeyCode::Enter)]);
    snap("job_detail_10000_parts_no_color", &mut b);
}

#[test]
fn snapshot_job_detail_small_and_verified() {
    let mut a = new_app();
    add_job(&mut a, 5, 1 << 30, 256 << 20, 4, 0, JobState::Running);
    a.on_event(Event::JobFinished {
        id: 5,
        state: JobState::Done,
        verification: Some(Verification {
            size_matched: true,
            crc64_matched: Some(true),
            etag_matched: None,
            skipped: false,
        }),
    });
    press(&mut a, &[key('2'), code(KeyCode::Enter)]);
    snap("job_detail_done", &mut a);
}

#[test]
fn snapshot_confirmations() {
    let mut a = big_job();
    press(&mut a, &[key('2'), key('A')]);
    snap("confirm_abort_job", &mut a);
    press(&mut a, &[key('n'), key('q')]);
    snap("confirm_quit", &mut a);
    let mut a = browsing();
    press(&mut a, &[key('3')]);
    a.on_event(Event::Listing(uploads_listing()));
    snap("uploads", &mut a);
    press(&mut a, &[key(' '), key(' '), key(' '), key('A')]);
    snap("confirm_abort_uploads", &mut a);
}

#[test]
fn snapshot_uploads_states() {
    let mut a = new_app();
    press(&mut a, &[key('3')]);
    snap("uploads_no_bucket", &mut a);
    let mut a = browsing();
    press(&mut a, &[key('3')]);
    a.on_event(Event::Listing(Listing::Uploads {
        bucket: bucket("media-1250000000"),
        prefix: String::new(),
        uploads: Err("AccessDenied: ListMultipartUploads is not allowed (request 1234)".into()),
    }));
    snap("uploads_error", &mut a);
}

/// The footer lists only what works on the screen, and Uploads keeps resume and abort at 80.
#[test]
fn footer_hints_only_what_works_here() {
    let footer = |a: &mut App| {
        render(a, 80, 24)
            .lines()
            .nth(23)
            .unwrap_or_default()
            .to_string()
    };
    let mut a = browsing();
    press(&mut a, &[key('3')]);
    let f = footer(&mut a);
    assert!(f.contains("r resume") && f.contains("A abort"), "{f}");
    assert!(
        !f.contains("Enter") && !f.contains("Bksp") && !f.contains("/ filter"),
        "{f}"
    );
    press(&mut a, &[key('4')]);
    let f = footer(&mut a);
    assert!(!f.contains("Enter") && !f.contains("R refresh"), "{f}");
    // The bucket list: nothing to mark, copy or go back from yet.
    let mut a = new_app();
    a.start();
    a.on_event(Event::Listing(Listing::Buckets(Ok(buckets()))));
    let f = footer(&mut a);
    assert!(
        f.contains("Enter open") && !f.contains("c copy") && !f.contains("Bksp"),
        "{f}"
    );
    // Inside a bucket they all work.
    let f = footer(&mut browsing());
    assert!(f.contains("c copy") && f.contains("Bksp"), "{f}");
}

/// A session across midnight: the Log opens with the date and says when the day changes.
#[test]
fn log_shows_the_date_and_where_it_changes() {
    let mut a = new_app();
    // T0 is 2026-11-18 11:06:40 UTC; start two seconds before the next midnight.
    a.clock
        .set(SystemTime::UNIX_EPOCH + Duration::from_secs(1_795_046_398));
    for i in 0..4 {
        a.on_event(Event::Log {
            level: LogLevel::Info,
            message: format!("line {i}"),
        });
        a.clock.advance(Duration::from_secs(1));
    }
    press(&mut a, &[key('4')]);
    let screen = render(&mut a, 80, 24);
    let rows: Vec<&str> = screen.lines().skip(2).take(7).collect();
    assert_eq!(
        rows,
        [
            "── 2026-11-18 (UTC) ──",
            "23:59:58.000 info   line 0",
            "23:59:59.000 info   line 1",
            "── 2026-11-19 (UTC) ──",
            "00:00:00.000 info   line 2",
            "00:00:01.000 info   line 3",
            "",
        ],
        "{screen}"
    );
    // Scrolled so only the new day fits: the top row still names the date.
    let screen = render(&mut a, 80, 7);
    assert!(
        screen
            .lines()
            .nth(2)
            .unwrap_or_default()
            .contains("2026-11-19"),
        "{screen}"
    );
}

#[test]
fn snapshot_log_and_help() {
    let mut a = new_app();
    for i in 0..40u64 {
        a.on_event(Event::Request(RequestRecord {
            op: Op::UploadPartCopy,
            method: "PUT",
            resource: format!("/raw/take-001.mov?partNumber={i}&uploadId=abc&q-signature=SECRET"),
            status: Some(if i % 13 == 0 { 503 } else { 200 }),
            code: (i % 13 == 0).then(|| "SlowDown".to_string()),
            latency: Duration::from_millis(100 + i * 7),
            request_id: Some(format!("NjQ1ZjEx{i:04}")),
        }));
        a.clock.advance(Duration::from_millis(137));
    }
    a.on_event(Event::Log {
        level: LogLevel::Warn,
        message: "part 7 retrying after SlowDown".into(),
    });
    press(&mut a, &[key('4')]);
    let screen = render(&mut a, 160, 48);
    // Seconds and milliseconds: T0 is 11:06:40 UTC; the 40th request came 39×137 ms later.
    assert!(screen.contains("11:06:45.343 PUT    503"), "{screen}");
    assert!(
        screen.contains("11:06:45.480 warn   part 7 retrying"),
        "{screen}"
    );
    assert!(
        !screen.contains("SECRET") && !screen.contains("q-signature"),
        "{screen}"
    );
    snap("log", &mut a);
    press(&mut a, &[key('?')]);
    snap("help", &mut a);
}

#[test]
fn a_prefix_transfer_row_counts_objects_done_in_flight_and_listed() {
    let mut a = new_app();
    a.start();
    a.on_event(Event::JobAdded {
        id: 3,
        spec: haul::engine::CopySpec {
            source: uri("cos://media-1250000000/thumbs/"),
            destination: uri("cos://backup-1250000000/thumbs/"),
            options: Default::default(),
        },
        state: JobState::Running,
        journaled: true,
    });
    a.on_event(Event::ObjectsListed {
        job: 3,
        objects: 1000,
        bytes: 1000 << 10,
        complete: false,
    });
    for i in 0..3 {
        a.on_event(Event::ObjectStarted {
            job: 3,
            key: format!("thumbs/{i}"),
            size: 1024,
        });
    }
    a.on_event(Event::ObjectDone {
        job: 3,
        key: "thumbs/0".into(),
        bytes: 1024,
        skipped: false,
    });
    press(&mut a, &[key('2')]);
    let screen = render(&mut a, 160, 48);
    assert!(screen.contains("1/2/1,000+"), "{screen}");
}
