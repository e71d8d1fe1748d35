//! Search (`/`) on every list: the Queue, Uploads, the Log, Help and Browse. The text filters
//! as it is typed and stays visible; Esc clears it before it leaves the screen; the Queue's
//! state filter stays on `f`.

use super::*;

fn typed(a: &mut App, s: &str) {
    for c in s.chars() {
        a.handle_key(key(c));
    }
}

fn line(screen: &str, n: usize) -> String {
    screen.lines().nth(n).unwrap_or_default().to_string()
}

#[test]
fn queue_search_filters_by_text_and_f_still_cycles_states() {
    let mut a = many_jobs(); // 100 jobs, take-001 … take-100
    press(&mut a, &[key('2'), key('/')]);
    typed(&mut a, "ke-04");
    // While typing: the text on the status line, the rows filtered already.
    assert_eq!(status_row(&mut a), "/ke-04");
    assert_eq!(a.visible_jobs(), (40..=49).collect::<Vec<u64>>());
    assert_eq!(
        a.queue.filter,
        haul::ui::app::StateFilter::All,
        "/ is not f"
    );
    press(&mut a, &[code(KeyCode::Enter)]);
    let screen = render(&mut a, 160, 48);
    assert!(line(&screen, 2).contains("· /ke-04 (10 shown)"), "{screen}");
    // f cycles the state filter on top of the search.
    press(&mut a, &[key('f')]);
    assert_eq!(a.queue.filter, haul::ui::app::StateFilter::Active);
    assert!(a.visible_jobs().iter().all(|id| (40..=49).contains(id)));
    // Esc clears the search first; the screen stays.
    press(&mut a, &[code(KeyCode::Esc)]);
    assert!(a.queue.search.is_empty());
    assert_eq!(a.screen, haul::ui::app::Screen::Queue);
    assert!(a.visible_jobs().len() > 10);
    // Esc while typing clears too, and a search with no match says so.
    press(
        &mut a,
        &[key('f'), key('f'), key('f'), key('f'), key('f'), key('/')],
    );
    typed(&mut a, "nothing-like-this");
    let screen = render(&mut a, 80, 24);
    assert!(
        screen.contains("No job matches /nothing-like-this (Esc clears the search)."),
        "{screen}"
    );
    press(&mut a, &[code(KeyCode::Esc)]);
    assert!(a.queue.search.is_empty() && a.filter_input.is_none());
}

#[test]
fn uploads_search_filters_rows_and_keys_act_on_what_is_shown() {
    let mut a = browsing();
    press(&mut a, &[key('3')]);
    a.on_event(Event::Listing(uploads_listing()));
    press(&mut a, &[key('/')]);
    typed(&mut a, "B.MOV");
    press(&mut a, &[code(KeyCode::Enter)]);
    let screen = render(&mut a, 160, 48);
    assert!(line(&screen, 1).contains("· /B.MOV (1 shown)"), "{screen}");
    assert!(
        screen.contains("raw/b.mov") && !screen.contains("raw/a.mov"),
        "{screen}"
    );
    press(&mut a, &[key('A')]);
    match &a.dialog {
        Some(haul::ui::app::Dialog::Confirm(c)) => {
            let text = c.lines.join("\n");
            assert!(
                text.contains("upl-0002") && !text.contains("upl-0001"),
                "{text}"
            );
        }
        other => panic!("no confirm: {other:?}"),
    }
    press(&mut a, &[key('n'), code(KeyCode::Esc)]);
    assert!(a.uploads.search.is_empty());
    assert_eq!(a.uploads.visible().len(), 3);
}

#[test]
fn log_search_keeps_filtering_new_lines() {
    let mut a = new_app();
    for i in 0..100 {
        a.on_event(Event::Log {
            level: if i % 10 == 0 {
                LogLevel::Error
            } else {
                LogLevel::Info
            },
            message: format!("line {i:03}"),
        });
    }
    press(&mut a, &[key('4'), key('/')]);
    typed(&mut a, "error");
    press(&mut a, &[code(KeyCode::Enter)]);
    let screen = render(&mut a, 160, 48);
    assert!(
        line(&screen, 1).contains("· /error (10 of 100)"),
        "{screen}"
    );
    let shown = screen.lines().filter(|l| l.contains(" line ")).count();
    assert_eq!(shown, 10, "{screen}");
    a.on_event(Event::Log {
        level: LogLevel::Error,
        message: "line 100".into(),
    });
    a.on_event(Event::Log {
        level: LogLevel::Info,
        message: "line 101".into(),
    });
    let screen = render(&mut a, 160, 48);
    assert!(
        screen.contains("line 100") && !screen.contains("line 101"),
        "{screen}"
    );
    press(&mut a, &[code(KeyCode::Esc)]);
    let screen = render(&mut a, 160, 48);
    assert!(screen.contains("line 101"), "{screen}");
    assert_eq!(a.screen, haul::ui::app::Screen::Log);
}

#[test]
fn help_search_shows_matching_keys_under_their_sections_and_esc_clears_then_closes() {
    let mut a = new_app();
    press(&mut a, &[key('?'), key('/')]);
    typed(&mut a, "abort");
    press(&mut a, &[code(KeyCode::Enter)]);
    let screen = render(&mut a, 160, 48);
    assert!(screen.contains("Help · /abort"), "{screen}");
    assert!(
        screen.contains("abort job (asks first)") && screen.contains("Uploads"),
        "{screen}"
    );
    assert!(!screen.contains("move down"), "{screen}");
    press(&mut a, &[code(KeyCode::Esc)]);
    assert!(
        matches!(&a.dialog, Some(haul::ui::app::Dialog::Help { search, .. }) if search.is_empty()),
        "Esc cleared the search and kept Help open"
    );
    press(&mut a, &[code(KeyCode::Esc)]);
    assert!(a.dialog.is_none());
}

#[test]
fn help_describes_the_search_keys_from_the_key_map_and_a_user_can_rebind_them() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("keys.toml");
    std::fs::write(
        &path,
        "[[input]]\nkeys = [\"ctrl-g\"]\naction = \"cancel\"\ndesc = \"give up the search\"\nhint = 3\n",
    )
    .unwrap();
    let mut o = opts();
    o.keymap_path = Some(path);
    let mut a = App::new(&o);
    a.resize(80, 24);
    let help = haul::ui::views::help::lines(&a.keymap);
    let at = help
        .iter()
        .position(|(title, l)| *title && l == "Search (after /)")
        .expect("Help has a section for the search keys");
    let section: Vec<&str> = help[at + 1..].iter().map(|(_, l)| l.as_str()).collect();
    assert!(
        section
            .iter()
            .any(|l| l.contains("C-g") && l.contains("give up the search"))
            && section
                .iter()
                .any(|l| l.contains("Enter") && l.contains("keep")),
        "{section:?}"
    );
    a.on_event(Event::Log {
        level: LogLevel::Info,
        message: "hello".into(),
    });
    press(&mut a, &[key('4'), key('/')]);
    typed(&mut a, "zzz");
    let footer = line(&render(&mut a, 160, 48), 47);
    assert!(footer.contains("C-g give"), "{footer}");
    press(&mut a, &[ctrl('g')]);
    assert!(a.filter_input.is_none() && a.log.search().is_empty());
}

#[test]
fn browse_esc_clears_the_filter_before_going_back() {
    let mut a = browsing();
    press(&mut a, &[key('/')]);
    typed(&mut a, "0001");
    press(&mut a, &[code(KeyCode::Enter)]);
    assert_eq!(a.browse.stack.last().unwrap().view.len(), 3); // clip-00001, -00010, -00011
    press(&mut a, &[code(KeyCode::Esc)]);
    assert_eq!(a.browse.stack.len(), 1, "still in the bucket");
    assert!(a.browse.stack[0].filter.is_empty());
    press(&mut a, &[code(KeyCode::Esc)]);
    assert!(a.browse.stack.is_empty(), "then Esc goes back");
}

#[test]
fn copy_dialog_bucket_picker_is_searched_by_typing_and_slash_starts_over() {
    let mut a = browsing();
    press(&mut a, &[key('j'), key('j'), key('c')]);
    typed(&mut a, "back");
    let screen = render(&mut a, 160, 48);
    assert!(
        screen.contains("▸ backup-1250000000") && !screen.contains("archive-1250000000"),
        "{screen}"
    );
    press(&mut a, &[key('/')]);
    typed(&mut a, "arch");
    let cmds = press(&mut a, &[code(KeyCode::Enter), code(KeyCode::Enter)]);
    match &cmds[..] {
        [Command::Enqueue(s)] => assert_eq!(
            s.destination.to_string(),
            "cos://archive-1250000000/clip-00000.mov"
        ),
        other => panic!("expected one copy, got {other:?} (dialog {:?})", a.dialog),
    }
}
