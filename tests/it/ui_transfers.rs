//! UI tests of transfers: a prefix transfer's Queue row and Job detail, the notice (and bell)
//! when a transfer ends, the Queue tab's running / failed counts, transfers restored from the
//! history and the journal at start, clearing finished ones behind a confirmation, and the
//! live global limit. The App is driven by keys and engine `Event`s with a manual clock and
//! rendered to `TestBackend` (insta snapshots at 80×24 and 160×48).

use std::time::{Duration, SystemTime};

use crossterm::event::{KeyCode, KeyEvent, KeyModifiers};
use haul::engine::history::Record;
use haul::engine::{Command, CopySpec, Event, JobState};
use haul::store::CosUri;
use haul::ui::{App, Clock, UiOptions};
use ratatui::backend::TestBackend;
use ratatui::Terminal;

const T0: u64 = 1_795_000_000;
const MIB: u64 = 1 << 20;

fn t0() -> SystemTime {
    SystemTime::UNIX_EPOCH + Duration::from_secs(T0)
}

fn app_with(bell: bool) -> App {
    let mut o = UiOptions::new("test");
    o.clock = Clock::manual(t0());
    o.no_color = false;
    o.bell = bell;
    let mut a = App::new(&o);
    a.resize(80, 24);
    a
}

fn key(c: char) -> KeyEvent {
    KeyEvent::new(KeyCode::Char(c), KeyModifiers::NONE)
}

fn code(c: KeyCode) -> KeyEvent {
    KeyEvent::new(c, KeyModifiers::NONE)
}

fn press(app: &mut App, keys: &[KeyEvent]) -> Vec<Command> {
    keys.iter().flat_map(|k| app.handle_key(*k)).collect()
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

fn snap(name: &str, app: &mut App) {
    let small = render(app, 80, 24);
    insta::assert_snapshot!(format!("{name}_80x24"), small);
    let large = render(app, 160, 48);
    insta::assert_snapshot!(format!("{name}_160x48"), large);
}

fn prefix_spec(src: &str, dst: &str) -> CopySpec {
    CopySpec {
        source: CosUri::parse(&format!("cos://media-1250000000/{src}")).unwrap(),
        destination: CosUri::parse(&format!("cos://backup-1250000000/{dst}")).unwrap(),
        options: Default::default(),
    }
}

fn advance(a: &mut App, ms: u64) {
    a.clock.advance(Duration::from_millis(ms));
}

/// A prefix transfer 10 s in: 3,000 objects listed so far (listing goes on), 1,200 done,
/// 2 failed, 3 in flight.
fn prefix_running(bell: bool) -> App {
    let mut a = app_with(bell);
    a.on_event(Event::JobAdded {
        id: 7,
        spec: prefix_spec("thumbs/", "thumbs/"),
        state: JobState::Queued,
        journaled: true,
    });
    a.on_event(Event::JobState {
        id: 7,
        state: JobState::Preparing,
    });
    a.on_event(Event::JobState {
        id: 7,
        state: JobState::Running,
    });
    a.on_event(Event::ObjectsListed {
        job: 7,
        objects: 3000,
        bytes: 3000 * MIB,
        complete: false,
    });
    for i in 0..1202u64 {
        let key = format!("thumbs/img-{i:05}.jpg");
        a.on_event(Event::ObjectStarted {
            job: 7,
            key: key.clone(),
            size: MIB,
        });
        if i == 17 || i == 409 {
            a.on_event(Event::ObjectFailed {
                job: 7,
                key,
                error: "AccessDenied: no READ permission on the source (request 5f1c)".into(),
            });
        } else {
            a.on_event(Event::ObjectDone {
                job: 7,
                key,
                bytes: MIB,
                skipped: false,
            });
        }
        if i % 120 == 119 {
            advance(&mut a, 1000);
        }
    }
    for i in 1202..1205u64 {
        a.on_event(Event::ObjectStarted {
            job: 7,
            key: format!("thumbs/img-{i:05}.jpg"),
            size: MIB,
        });
    }
    a
}

#[test]
fn a_prefix_transfer_is_one_row_with_object_counts_and_its_detail_lists_objects() {
    let mut a = prefix_running(false);
    press(&mut a, &[key('2')]);
    let screen = render(&mut a, 160, 48);
    assert!(screen.contains("1,200/3/3,000+ ✗2"), "{screen}");
    // The Queue tab says one transfer runs, from any screen.
    assert!(
        screen.lines().next().unwrap().contains("2 Queue ▶1"),
        "{screen}"
    );
    snap("transfer_prefix_queue", &mut a);
    press(&mut a, &[code(KeyCode::Enter)]);
    let screen = render(&mut a, 160, 48);
    assert!(
        screen.contains(
            "objects: 1,200 done, 0 skipped, 2 failed, 3 in flight of 3,000+ listed so far"
        ),
        "{screen}"
    );
    assert!(screen.contains("thumbs/img-01204.jpg"), "{screen}");
    assert!(
        screen.contains("✗ thumbs/img-00017.jpg: AccessDenied: no READ permission"),
        "{screen}"
    );
    snap("transfer_prefix_detail", &mut a);
}

#[test]
fn a_transfer_that_ends_says_so_with_elapsed_and_average_rate_and_rings_when_asked() {
    for bell in [false, true] {
        let mut a = prefix_running(bell);
        press(&mut a, &[key('1')]);
        a.on_event(Event::ObjectsListed {
            job: 7,
            objects: 1205,
            bytes: 1205 * MIB,
            complete: true,
        });
        for i in 1202..1205u64 {
            a.on_event(Event::ObjectDone {
                job: 7,
                key: format!("thumbs/img-{i:05}.jpg"),
                bytes: MIB,
                skipped: false,
            });
        }
        a.on_event(Event::JobFinished {
            id: 7,
            state: JobState::Failed(
                "2 of 1,205 objects failed; `haul jobs resume 7` retries them".into(),
            ),
            verification: None,
        });
        let status = a.status_line().unwrap_or_default().to_string();
        assert_eq!(
            status,
            "job 7 failed: 2 of 1,205 objects failed; `haul jobs resume 7` retries them \
             (1,203 objects, 2 failed, 1.17 GiB in 10s (120 MiB/s average); r retries)"
        );
        assert_eq!(a.to_terminal, if bell { vec![0x07] } else { vec![] });
        let screen = render(&mut a, 160, 48);
        assert!(
            screen.lines().next().unwrap().contains("2 Queue ✗1"),
            "the failure shows on the tab: {screen}"
        );
        // The detail says how long it took and how fast it went on average.
        press(&mut a, &[key('2'), code(KeyCode::Enter)]);
        let screen = render(&mut a, 160, 48);
        assert!(screen.contains("took 10s · 120 MiB/s average"), "{screen}");
    }
}

#[test]
fn history_and_interrupted_transfers_restored_at_start_are_shown_and_announced() {
    let mut a = app_with(false);
    a.start();
    // The engine restores journaled transfers first, then the history.
    for id in [3, 4] {
        a.on_event(Event::JobAdded {
            id,
            spec: prefix_spec(&format!("raw-{id}/"), &format!("raw-{id}/")),
            state: JobState::Interrupted,
            journaled: true,
        });
    }
    a.on_event(Event::JobAdded {
        id: 2,
        spec: prefix_spec("renders/", "renders/"),
        state: JobState::Done,
        journaled: false,
    });
    a.on_event(Event::JobHistory {
        record: Record {
            id: 2,
            source: "cos://media-1250000000/renders/".into(),
            destination: "cos://backup-1250000000/renders/".into(),
            state: "done".into(),
            error: None,
            size: None,
            listed: 420,
            listed_bytes: 42 << 30,
            done: 420,
            skipped: 0,
            failed: 0,
            bytes: 42 << 30,
            started: T0 as i64 - 3600,
            finished: T0 as i64 - 3000,
            elapsed_ms: 600_000,
            failures: vec![],
        },
    });
    assert_eq!(
        a.status_line(),
        Some("2 interrupted transfers restored: r resumes (on the Queue, 2)")
    );
    press(&mut a, &[key('2')]);
    let screen = render(&mut a, 160, 48);
    assert!(screen.contains("420/0/420"), "{screen}");
    assert!(screen.contains("71.7 MiB/s"), "the average rate: {screen}");
    snap("transfer_history_restored", &mut a);
    press(&mut a, &[code(KeyCode::Enter)]);
    let screen = render(&mut a, 160, 48);
    assert!(
        screen.contains("took 10m00s · 71.7 MiB/s average"),
        "{screen}"
    );
}

#[test]
fn clearing_finished_transfers_asks_first_and_names_what_goes() {
    let mut a = app_with(false);
    for (id, state) in [
        (1, JobState::Done),
        (2, JobState::Failed("boom".into())),
        (3, JobState::Running),
    ] {
        a.on_event(Event::JobAdded {
            id,
            spec: prefix_spec(&format!("p{id}/"), &format!("q{id}/")),
            state,
            journaled: true,
        });
    }
    press(&mut a, &[key('2')]);
    assert!(
        press(&mut a, &[key('C')]).is_empty(),
        "nothing before an answer"
    );
    let screen = render(&mut a, 80, 24);
    assert!(
        screen.contains("Clear 2 finished transfers"),
        "the question names them: {screen}"
    );
    snap("confirm_clear_finished", &mut a);
    assert!(press(&mut a, &[key('n')]).is_empty());
    let cmds = press(&mut a, &[key('C'), key('y')]);
    assert!(matches!(&cmds[..], [Command::ClearFinished]), "{cmds:?}");
    a.on_event(Event::JobRemoved { id: 1 });
    a.on_event(Event::JobRemoved { id: 2 });
    assert_eq!(a.jobs.keys().copied().collect::<Vec<_>>(), vec![3]);
    // With nothing finished, C says so instead of asking.
    assert!(press(&mut a, &[key('C')]).is_empty());
    assert!(a.dialog.is_none());
    assert_eq!(a.status_line(), Some("no finished transfers to clear"));
}

#[test]
fn the_global_limit_changes_live_and_plus_past_it_says_what_still_caps_the_job() {
    let mut a = prefix_running(false);
    press(&mut a, &[key('2')]);
    let cmds = press(&mut a, &[key('>')]);
    assert!(cmds.is_empty(), "no limit known yet: {cmds:?}");
    assert_eq!(
        a.status_line(),
        Some("the engine has not said its limit yet")
    );
    a.on_event(Event::Concurrency {
        global_limit: 64,
        effective: 64,
        job: None,
    });
    let cmds = press(&mut a, &[key('>')]);
    assert!(
        matches!(&cmds[..], [Command::SetConcurrency { job: None, n: 72 }]),
        "{cmds:?}"
    );
    a.on_event(Event::Concurrency {
        global_limit: 72,
        effective: 72,
        job: None,
    });
    let cmds = press(&mut a, &[key('<'), key('<')]);
    assert!(
        matches!(
            &cmds[..],
            [
                Command::SetConcurrency { job: None, n: 63 },
                Command::SetConcurrency { job: None, n: 63 }
            ]
        ),
        "each step from the limit the engine last reported: {cmds:?}"
    );
    a.on_event(Event::Concurrency {
        global_limit: 8,
        effective: 8,
        job: Some((7, 8)),
    });
    let cmds = press(&mut a, &[key('+')]);
    assert!(
        matches!(&cmds[..], [Command::SetConcurrency { job: Some(7), n: 9 }]),
        "{cmds:?}"
    );
    assert_eq!(
        a.status_line(),
        Some(
            "job 7: up to 9 parts in flight, but the global limit of 8 still caps it (> raises it)"
        )
    );
}

#[test]
fn y_copies_the_selected_uri_through_osc52() {
    let mut a = prefix_running(false);
    press(&mut a, &[key('2')]);
    assert!(press(&mut a, &[key('y')]).is_empty());
    let expected = format!(
        "\x1b]52;c;{}\x07",
        base64::Engine::encode(
            &base64::engine::general_purpose::STANDARD,
            "cos://backup-1250000000/thumbs/"
        )
    );
    assert_eq!(String::from_utf8(a.to_terminal.clone()).unwrap(), expected);
    assert_eq!(
        a.status_line(),
        Some("copied cos://backup-1250000000/thumbs/ (OSC 52: the terminal puts it on the clipboard)")
    );
    // Nothing selected: nothing sent.
    let mut b = app_with(false);
    press(&mut b, &[key('4'), key('y')]);
    assert!(b.to_terminal.is_empty());
    assert_eq!(b.status_line(), Some("nothing selected to copy"));
}

#[test]
fn help_opens_on_the_screen_it_was_asked_from_with_its_legend() {
    let mut a = prefix_running(false);
    press(&mut a, &[key('2'), key('?')]);
    let screen = render(&mut a, 160, 48);
    let first = screen
        .lines()
        .find(|l| l.contains("│ ") && !l.contains("┌"))
        .unwrap_or_default()
        .to_string();
    assert!(first.contains("│ Queue"), "Queue's keys first: {screen}");
    assert!(screen.contains("Queue · what the figures mean"), "{screen}");
    assert!(
        screen.contains("DONE/FLY/ALL: a one-object job's parts"),
        "{screen}"
    );
    snap("help_queue", &mut a);
    // The Job detail's legend explains the part-map glyphs as drawn (here without colour).
    let mut o = UiOptions::new("test");
    o.clock = Clock::manual(t0());
    o.no_color = true;
    let mut b = App::new(&o);
    b.jobs = a.jobs.clone();
    press(&mut b, &[key('2'), code(KeyCode::Enter), key('?')]);
    let screen = render(&mut b, 160, 48);
    assert!(screen.contains("│ Job detail"), "{screen}");
    assert!(
        screen.contains("█ done  ▒ in flight  ? retrying  X failed  ▪ partly  · pending"),
        "{screen}"
    );
}

#[test]
fn colon_goes_to_a_typed_location_and_says_why_it_cannot() {
    let mut a = app_with(false);
    a.start();
    let cmds = press(&mut a, &[key('2'), key(':')]);
    assert!(cmds.is_empty());
    for c in "media-1250000000/raw/take-1.mov".chars() {
        a.handle_key(key(c));
    }
    snap("goto_dialog", &mut a);
    let cmds = press(&mut a, &[code(KeyCode::Enter)]);
    assert!(
        matches!(
            &cmds[..],
            [Command::Browse(haul::engine::BrowseRequest::Objects { bucket, prefix, marker: None })]
                if bucket.as_str() == "media-1250000000" && prefix == "raw/"
        ),
        "the object's folder is listed: {cmds:?}"
    );
    assert!(a.dialog.is_none());
    assert_eq!(
        a.browse.location().map(|(b, p)| format!("{b}/{p}")),
        Some("media-1250000000/raw/".to_string())
    );
    assert_eq!(
        a.status_line(),
        Some("opened cos://media-1250000000/raw/: take-1.mov is in it")
    );
    // A location that does not parse keeps the dialog open with the reason.
    press(&mut a, &[key(':')]);
    for _ in 0..40 {
        a.handle_key(code(KeyCode::Backspace));
    }
    for c in "s3://x/".chars() {
        a.handle_key(key(c));
    }
    assert!(press(&mut a, &[code(KeyCode::Enter)]).is_empty());
    let screen = render(&mut a, 80, 24);
    match &a.dialog {
        Some(haul::ui::dialogs::Dialog::Goto(g)) => {
            let e = g.error.clone().unwrap_or_default();
            assert!(
                !e.is_empty() && screen.contains(&e[..20.min(e.len())]),
                "{screen}"
            );
        }
        other => panic!("the dialog stays open: {other:?}"),
    }
    press(&mut a, &[code(KeyCode::Esc)]);
    assert!(a.dialog.is_none());
}

fn page(prefix: &str, n: usize) -> haul::store::ListObjectsPage {
    haul::store::ListObjectsPage {
        objects: (0..n)
            .map(|i| haul::store::ObjectSummary {
                key: format!("{prefix}clip-{i:03}.mov"),
                size: 1000,
                last_modified: None,
                etag: format!("e{i}"),
                storage_class: "STANDARD".into(),
            })
            .collect(),
        common_prefixes: vec![],
        is_truncated: false,
        next_marker: None,
    }
}

fn open_raw(a: &mut App) {
    press(a, &[key(':')]);
    for _ in 0..60 {
        a.handle_key(code(KeyCode::Backspace));
    }
    for c in "media-1250000000/raw/".chars() {
        a.handle_key(key(c));
    }
    press(a, &[code(KeyCode::Enter)]);
    a.on_event(Event::Listing(haul::engine::Listing::Objects {
        bucket: haul::store::BucketName::parse("media-1250000000").unwrap(),
        prefix: "raw/".into(),
        marker: None,
        page: Ok(page("raw/", 5)),
    }));
}

fn marked(a: &App) -> Vec<String> {
    let l = a.browse.stack.last().expect("a listing");
    l.rows
        .iter()
        .filter(|r| r.marked)
        .map(|r| r.name.to_string())
        .collect()
}

#[test]
fn space_marks_and_moves_down_and_marks_survive_leaving_the_folder() {
    let mut a = app_with(false);
    a.start();
    open_raw(&mut a);
    press(&mut a, &[key(' '), key(' ')]);
    assert_eq!(marked(&a), vec!["clip-000.mov", "clip-001.mov"]);
    assert_eq!(a.browse.stack.last().unwrap().cursor, 2, "Space moved down");
    press(&mut a, &[key('h')]);
    assert!(a.browse.stack.is_empty(), "left the folder");
    assert_eq!(a.browse.marks_elsewhere(), 2);
    open_raw(&mut a);
    assert_eq!(
        marked(&a),
        vec!["clip-000.mov", "clip-001.mov"],
        "the marks are back"
    );
    // A mark taken off stays off after leaving and coming back.
    press(&mut a, &[key('g'), key(' ')]);
    press(&mut a, &[key('h')]);
    open_raw(&mut a);
    assert_eq!(marked(&a), vec!["clip-001.mov"]);
}

#[test]
fn v_narrows_the_log_by_level_and_end_notices_name_their_transfer() {
    let mut a = prefix_running(false);
    for (i, status) in [(1, Some(200)), (2, Some(503)), (3, None), (4, Some(404))] {
        a.on_event(Event::Request(haul::store::RequestRecord {
            op: haul::store::Op::PutObjectCopy,
            method: "PUT",
            resource: format!("/thumbs/img-{i}.jpg"),
            status,
            code: None,
            latency: Duration::from_millis(40),
            request_id: None,
        }));
    }
    a.on_event(Event::Log {
        level: haul::engine::LogLevel::Warn,
        message: "job 7: retrying the listing".into(),
    });
    a.on_event(Event::JobFinished {
        id: 7,
        state: JobState::Failed("2 of 3,000 objects failed".into()),
        verification: None,
    });
    press(&mut a, &[key('4')]);
    let all = a.log.len();
    assert_eq!(all, 6, "4 requests, a warning, the end notice");
    let mut shown = vec![];
    for _ in 0..4 {
        press(&mut a, &[key('v')]);
        shown.push((a.log.len(), a.status_line().unwrap_or_default().to_string()));
    }
    assert_eq!(shown[0].0, 2, "log lines only: {shown:?}");
    assert_eq!(
        shown[1].0, 5,
        "warnings, errors and the 503, the 404, the lost one: {shown:?}"
    );
    assert_eq!(
        shown[2].0, 3,
        "the error, the 503 and the lost one: {shown:?}"
    );
    assert_eq!(shown[3].0, all);
    assert_eq!(shown[0].1, "Log: showing log lines (no requests)");
    // The end notice names its transfer.
    press(&mut a, &[key('v')]);
    let screen = render(&mut a, 160, 48);
    assert!(
        screen.contains("job 7 failed: 2 of 3,000 objects failed"),
        "{screen}"
    );
}

#[test]
fn d_deletes_marked_objects_only_after_a_confirmation_that_names_them() {
    let mut a = app_with(false);
    a.start();
    open_raw(&mut a);
    press(&mut a, &[key(' '), key(' ')]);
    press(&mut a, &[key('D')]);
    let shown = render(&mut a, 160, 48);
    assert!(shown.contains("Delete 2 objects"), "{shown}");
    assert!(shown.contains("raw/clip-000.mov") && shown.contains("raw/clip-001.mov"));
    assert!(
        !shown.contains("raw/clip-002.mov"),
        "only the marked ones are named"
    );
    // Esc: nothing is sent.
    assert!(press(&mut a, &[code(KeyCode::Esc)]).is_empty());
    assert!(a.dialog.is_none());
    // Enter on the first button (No) sends nothing either.
    press(&mut a, &[key('D')]);
    assert!(press(&mut a, &[code(KeyCode::Enter)]).is_empty());
    press(&mut a, &[key('D')]);
    let sent = press(&mut a, &[key('y')]);
    match sent.as_slice() {
        [Command::DeleteObjects { bucket, keys }] => {
            assert_eq!(bucket.to_string(), "media-1250000000");
            assert_eq!(keys, &["raw/clip-000.mov", "raw/clip-001.mov"]);
        }
        other => panic!("expected one DeleteObjects, got {other:?}"),
    }
    a.on_event(Event::ObjectsDeleted {
        bucket: haul::store::BucketName::parse("media-1250000000").unwrap(),
        deleted: vec!["raw/clip-000.mov".into(), "raw/clip-001.mov".into()],
        failed: vec![],
    });
    let names: Vec<String> = a
        .browse
        .stack
        .last()
        .unwrap()
        .rows
        .iter()
        .map(|r| r.name.to_string())
        .collect();
    assert_eq!(names, ["clip-002.mov", "clip-003.mov", "clip-004.mov"]);
    assert!(render(&mut a, 160, 48).contains("deleted 2 objects from cos://media-1250000000/"));
}
