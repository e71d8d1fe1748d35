//! The defects of issue 9 part 1, each driven with the keys that showed it and asserting what
//! a user now sees (every test here fails on the code before the fix). Defect 1 (search) is
//! tested with the search tests; defect 6 (retry off by one) was fixed before.

use super::*;

/// The Queue with `n` running jobs, each with parts in flight.
fn queue_of(n: u64, fly: u32) -> App {
    let mut a = new_app();
    for id in 1..=n {
        add_job(&mut a, id, 10 << 30, 256 << 20, 4, fly, JobState::Running);
    }
    a
}

/// The status line at 160 columns.
fn wide_status(app: &mut App) -> String {
    let screen = render(app, 160, 48);
    screen
        .lines()
        .nth(46)
        .unwrap_or_default()
        .trim_end()
        .to_string()
}

/// Rows of `screen` between the first line containing `head` and the status line that are
/// blank.
fn blank_rows_below(screen: &str, head: &str) -> usize {
    let lines: Vec<&str> = screen.lines().collect();
    let start = lines.iter().position(|l| l.contains(head)).unwrap() + 1;
    let end = lines.len() - 2; // status line, footer
    lines[start..end]
        .iter()
        .filter(|l| l.trim().is_empty())
        .count()
}

// ----- 2: the copy dialog checks with the engine's routine before queueing -----------------

#[test]
fn copy_dialog_shows_a_part_count_over_10000_before_enter_and_enter_queues_nothing() {
    let mut a = browsing();
    // The last object is 36 GB: 3 MiB parts would make 11,444.
    press(
        &mut a,
        &[key('G'), key('c'), code(KeyCode::Enter), code(KeyCode::Tab)],
    );
    press(&mut a, &[code(KeyCode::Backspace); 4]);
    press(&mut a, &[key('3'), key('M')]);
    let screen = render(&mut a, 160, 48);
    assert!(
        screen.contains("into 11445 parts, more than COS's"),
        "the dialog says why before Enter:\n{screen}"
    );
    let cmds = press(&mut a, &[code(KeyCode::Enter)]);
    assert!(cmds.is_empty(), "nothing queued: {cmds:?}");
    assert!(a.dialog.is_some());
    // auto shows what it chooses instead.
    press(&mut a, &[code(KeyCode::Backspace); 2]);
    for c in "auto".chars() {
        a.handle_key(key(c));
    }
    let screen = render(&mut a, 160, 48);
    assert!(
        screen.contains("→ cos://archive-1250000000/clip-00011.mov ·")
            && screen.contains("parts of")
            && screen.contains("(auto, for 64 in flight)"),
        "{screen}"
    );
}

// ----- 3: aborting an upload a job owns says so, and r then says it starts from zero -------

#[test]
fn uploads_abort_names_the_owning_job_and_r_then_says_it_starts_a_new_upload() {
    let mut a = browsing();
    add_job(&mut a, 11, 30 << 30, 256 << 20, 10, 4, JobState::Running);
    press(&mut a, &[key('3')]);
    a.on_event(Event::Listing(uploads_listing()));
    assert!(press(&mut a, &[key('A')]).is_empty());
    let text = match &a.dialog {
        Some(haul::ui::app::Dialog::Confirm(c)) => c.lines.join("\n"),
        other => panic!("no confirm: {other:?}"),
    };
    assert!(
        text.contains("raw/a.mov belongs to job 11, which is running")
            && text.contains("makes job 11 fail"),
        "{text}"
    );
    let cmds = press(&mut a, &[key('y')]);
    assert!(
        matches!(&cmds[..], [Command::AbortUploads { .. }]),
        "{cmds:?}"
    );
    a.on_event(Event::JobFinished {
        id: 11,
        state: JobState::Failed("NoSuchUpload: the upload was aborted".into()),
        verification: None,
    });
    press(&mut a, &[key('2')]);
    let status = wide_status(&mut a);
    assert!(
        status.contains("(r starts a new upload from zero)"),
        "{status}"
    );
    let cmds = press(&mut a, &[key('r')]);
    assert!(matches!(&cmds[..], [Command::Retry(11)]), "{cmds:?}");
    let status = wide_status(&mut a);
    assert!(
        status.contains("job 11: its upload was aborted, so this run starts a new upload"),
        "{status}"
    );
}

// ----- 4 and 5: lists never scroll into blank rows ------------------------------------------

#[test]
fn log_top_shows_a_full_screen_and_j_then_scrolls_one_line() {
    let mut a = new_app();
    for i in 0..100 {
        a.on_event(Event::Log {
            level: LogLevel::Info,
            message: format!("line {i:03}"),
        });
    }
    press(&mut a, &[key('4'), key('g')]);
    let screen = render(&mut a, 80, 24);
    assert!(screen.contains("line 000"), "{screen}");
    assert_eq!(blank_rows_below(&screen, "TIME (UTC)"), 0, "{screen}");
    let shown = |s: &str| s.lines().filter(|l| l.contains(" line ")).count();
    assert_eq!(shown(&screen), 19, "{screen}");
    press(&mut a, &[key('j')]);
    let screen = render(&mut a, 80, 24);
    assert!(
        !screen.contains("line 000") && screen.contains("line 019"),
        "{screen}"
    );
}

#[test]
fn queue_and_listing_end_on_their_last_row() {
    let mut a = many_jobs(); // 100 jobs
    press(&mut a, &[key('2'), key('G')]);
    let screen = render(&mut a, 80, 24);
    assert_eq!(blank_rows_below(&screen, "STATE"), 0, "{screen}");
    assert!(screen.contains("ke-100.mov"), "{screen}");

    let mut b = browsing(); // 2 prefixes + 12 objects; 19 rows fit at 80×24 … use a short one
    b.resize(80, 12);
    press(&mut b, &[key('G')]);
    let screen = render(&mut b, 80, 12);
    assert_eq!(blank_rows_below(&screen, "NAME"), 0, "{screen}");
    assert!(screen.contains("clip-00011.mov"), "{screen}");
    // The mouse agrees with the drawing: the first list row is the one drawn there.
    let first_row = screen.lines().nth(3).unwrap().to_string();
    let row = haul::ui::views::row_at(&b, 3).unwrap();
    let l = b.browse.stack.last().unwrap();
    let name = l.rows[l.view[row] as usize].name.to_string();
    assert!(first_row.contains(&name), "{first_row} vs {name}");
}

// ----- 7: the header shows requests in flight, and nothing stale when idle ------------------

#[test]
fn queue_header_counts_requests_in_flight_and_says_idle_when_nothing_runs() {
    let mut a = queue_of(2, 11); // 22 parts in flight
    a.on_event(Event::Concurrency {
        global_limit: 32,
        effective: 11,
        job: None,
    });
    press(&mut a, &[key('2')]);
    let screen = render(&mut a, 160, 48);
    let head = screen.lines().nth(1).unwrap();
    assert!(
        head.contains("22 in flight") && head.contains("limit 32 (throttled to 11)"),
        "{head}"
    );
    for id in 1..=2 {
        a.on_event(Event::JobState {
            id,
            state: JobState::Paused,
        });
    }
    let screen = render(&mut a, 160, 48);
    let head = screen.lines().nth(1).unwrap();
    assert!(
        head.contains("idle · limit 32") && !head.contains("in flight"),
        "{head}"
    );
    let mut e = new_app();
    press(&mut e, &[key('2')]);
    let screen = render(&mut e, 80, 24);
    let head = screen.lines().nth(1).unwrap();
    assert_eq!(head.trim(), "idle", "no 0 B of 0 B: {head}");
}

// ----- 8: a note does not outlive the next key ----------------------------------------------

#[test]
fn notes_go_with_the_next_key() {
    let mut a = new_app();
    a.start();
    a.on_event(Event::Listing(Listing::Buckets(Ok(buckets()))));
    press(&mut a, &[key('c')]);
    assert_eq!(status_row(&mut a), "open a bucket first (Enter)");
    press(&mut a, &[code(KeyCode::Enter)]);
    assert_eq!(status_row(&mut a), "");

    let mut a = browsing();
    press(&mut a, &[key('c'), code(KeyCode::Esc)]);
    assert_eq!(status_row(&mut a), "copy cancelled");
    press(&mut a, &[key('j')]);
    assert_eq!(status_row(&mut a), "");

    let mut a = queue_of(1, 2);
    press(&mut a, &[key('2'), key('x')]);
    assert!(status_row(&mut a).starts_with("cancelling job 1"));
    a.on_event(Event::JobState {
        id: 1,
        state: JobState::Cancelled,
    });
    press(&mut a, &[key('r')]);
    assert!(
        !status_row(&mut a).contains("cancelling"),
        "{}",
        status_row(&mut a)
    );
}

// ----- 9: dialogs and Help use the width they have ------------------------------------------

#[test]
fn dialogs_and_help_wrap_instead_of_cutting_at_160_columns() {
    let mut a = browsing();
    press(&mut a, &[key('j'), key('j'), key('c')]);
    for c in "media".chars() {
        a.handle_key(key(c));
    }
    press(&mut a, &[code(KeyCode::Tab), code(KeyCode::Enter)]);
    let screen = render(&mut a, 160, 48);
    assert!(
        screen.contains("would be copied onto itself: choose another destination"),
        "{screen}"
    );
    assert!(!screen.contains("itself: c…"), "{screen}");
    let width = screen
        .lines()
        .find(|l| l.contains("┌ Copy"))
        .map(|l| l.trim().chars().count())
        .unwrap();
    assert!(width >= 110, "the dialog is {width} wide at 160");

    let mut h = new_app();
    press(&mut h, &[key('?')]);
    for w in [160u16, 80] {
        let screen = render(&mut h, w, 48);
        assert!(!screen.contains('…'), "Help cut a line at {w}:\n{screen}");
    }
}

// ----- 10: without colour the legend shows the map's glyphs ---------------------------------

#[test]
fn no_color_part_map_legend_uses_the_glyphs_of_the_map() {
    let mut o = opts();
    o.no_color = true;
    let mut a = App::new(&o);
    add_job(&mut a, 1, 40 << 30, 256 << 20, 40, 8, JobState::Running);
    press(&mut a, &[key('2'), code(KeyCode::Enter)]);
    let screen = render(&mut a, 160, 48);
    assert!(
        screen.contains("█ done") && screen.contains("▒ in flight") && screen.contains("· pending"),
        "{screen}"
    );
    assert!(!screen.contains("■"), "{screen}");
}

// ----- 11: the quit dialog says what happens, and the exit says it again ---------------------

#[test]
fn quit_dialog_promises_what_happens_and_exit_prints_how_to_resume() {
    let mut a = queue_of(2, 1);
    a.on_event(Event::JobAdded {
        id: 3,
        spec: spec(3),
        state: JobState::Queued,
        journaled: false,
    });
    press(&mut a, &[key('q')]);
    let text = match &a.dialog {
        Some(haul::ui::app::Dialog::Confirm(c)) => c.lines.join("\n"),
        other => panic!("no confirm: {other:?}"),
    };
    assert!(!text.contains("offers them at the next start"), "{text}");
    assert!(
        text.contains("3 jobs are not finished")
            && text.contains("`haul jobs resume`")
            && text.contains("1 job is not journaled"),
        "{text}"
    );
    let cmds = press(&mut a, &[code(KeyCode::Enter)]);
    assert!(matches!(cmds.last(), Some(Command::Shutdown)), "{cmds:?}");
    let note = a.exit_note.clone().unwrap_or_default();
    assert!(
        note.starts_with("haul: paused 3 jobs (1, 2, 3); `haul jobs resume` continues them")
            && note.contains("1 was not journaled"),
        "{note}"
    );
}

// ----- 12: wording ---------------------------------------------------------------------------

#[test]
fn counts_and_hints_read_as_english() {
    let mut a = queue_of(1, 0);
    press(&mut a, &[key('2')]);
    let screen = render(&mut a, 80, 24);
    assert!(screen.contains("1 job: 1 running"), "{screen}");
    assert!(
        screen.contains("source ↓"),
        "the narrow header names the source: {screen}"
    );
    assert!(
        !screen.contains("per part"),
        "no '× no measured rate yet per part': {screen}"
    );
    press(&mut a, &[key('A')]);
    let screen = render(&mut a, 80, 24);
    let footer = screen.lines().last().unwrap();
    assert!(footer.starts_with("y abort  n no"), "{footer}");
    press(&mut a, &[key('n')]);
    assert_eq!(status_row(&mut a), "job 1 not aborted");
    press(&mut a, &[key('q'), key('n')]);
    assert_eq!(status_row(&mut a), "not quitting");
    press(&mut a, &[key('q')]);
    let screen = render(&mut a, 80, 24);
    assert!(screen.contains("1 job is not finished"), "{screen}");
    assert!(!screen.contains("job(s)"), "{screen}");

    let mut b = browsing();
    let screen = render(&mut b, 160, 48);
    assert!(screen.contains("i details"), "{screen}");
    assert!(!screen.contains("i object"), "{screen}");
    let mut one = new_app();
    one.start();
    one.on_event(Event::Listing(Listing::Buckets(Ok(buckets()))));
    press(&mut one, &[code(KeyCode::Enter)]);
    one.on_event(Event::Listing(Listing::Objects {
        bucket: bucket("archive-1250000000"),
        prefix: String::new(),
        marker: None,
        page: Ok(ListObjectsPage {
            objects: objects_page("x/", 1, false).objects,
            common_prefixes: vec![],
            is_truncated: false,
            next_marker: None,
        }),
    }));
    let screen = render(&mut one, 80, 24);
    assert!(
        screen.contains("· 1 row") && !screen.contains("1 rows"),
        "{screen}"
    );
}
