//! The terminal UI: owns the terminal, runs the input / event / render loop, and restores the
//! terminal on every way out (quit, error, panic, SIGTERM, SIGHUP, and around Ctrl-z).
//!
//! The loop never awaits the network: it sends `Command`s on a channel and folds `Event`s from
//! another. State and views live in `app` and `views`; this file is the only one that touches
//! the terminal. Logs never go to the screen (the caller points tracing at a file).

pub mod app;
pub mod browse;
pub mod clipboard;
pub mod clock;
pub mod dialogs;
mod events;
pub mod jobs;
pub mod keymap;
mod lists;
pub mod screens;
mod search;
mod status;
pub mod theme;
mod transfers;
pub mod views;

use std::io::{self, Write};
use std::time::Duration;

use crossterm::event::{
    DisableMouseCapture, EnableMouseCapture, Event as TermEvent, EventStream, KeyEventKind,
};
use crossterm::terminal::{self, EnterAlternateScreen, LeaveAlternateScreen};
use crossterm::{cursor, execute};
use futures::StreamExt;
use ratatui::backend::CrosstermBackend;
use ratatui::Terminal;
use tokio::sync::mpsc::{UnboundedReceiver, UnboundedSender};
use tokio::time::Instant;

pub use app::{App, Control, UiOptions};
pub use clock::Clock;

use crate::engine::{Command, Event};

/// Shortest time between two frames (~30 fps).
const FRAME: Duration = Duration::from_millis(33);
/// The slow tick that refreshes rates, ETAs and in-flight estimates (~4 Hz).
const SLOW_TICK: Duration = Duration::from_millis(250);

/// Puts the terminal in raw mode on the alternate screen with mouse capture.
fn enter() -> io::Result<()> {
    terminal::enable_raw_mode()?;
    execute!(
        io::stdout(),
        EnterAlternateScreen,
        EnableMouseCapture,
        cursor::Hide
    )
}

/// Undoes `enter`; safe to call twice and from a panic hook.
pub fn restore() {
    let _ = terminal::disable_raw_mode();
    let _ = execute!(
        io::stdout(),
        DisableMouseCapture,
        LeaveAlternateScreen,
        cursor::Show
    );
    let _ = io::stdout().flush();
}

/// Restores the terminal when dropped: covers `?` returns and unwinding.
struct Guard;

impl Drop for Guard {
    fn drop(&mut self) {
        restore();
    }
}

/// Restores the terminal before the default panic message prints, so it is readable.
fn install_panic_hook() {
    let previous = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        restore();
        previous(info);
    }));
}

/// Runs the TUI until the user quits or a signal arrives. Sends `Command::Shutdown` on the way
/// out (after `Pause`/`Abort` commands when the user chose so in the quit dialog).
pub async fn run(
    commands: UnboundedSender<Command>,
    mut events: UnboundedReceiver<Event>,
    opts: UiOptions,
) -> anyhow::Result<()> {
    use anyhow::Context as _;

    let mut app = App::new(&opts);
    let mut signals = Signals::install()?;

    install_panic_hook();
    enter().context("setting up the terminal (is stdout a terminal?)")?;
    let _guard = Guard;
    let mut terminal =
        Terminal::new(CrosstermBackend::new(io::stdout())).context("opening the terminal")?;
    terminal.clear().ok();
    let size = terminal.size().context("reading the terminal size")?;
    app.resize(size.width, size.height);

    let mut input = EventStream::new();
    drive(
        &mut app,
        &mut terminal,
        &mut input,
        &commands,
        &mut events,
        Some(&mut signals),
    )
    .await?;
    drop(terminal);
    restore();
    if let Some(note) = &app.exit_note {
        eprintln!("{note}");
    }
    Ok(())
}

/// The signals the real terminal's loop answers: SIGTERM and SIGHUP end it (after sending
/// `Shutdown`), SIGCONT repaints.
pub struct Signals {
    term: tokio::signal::unix::Signal,
    hup: tokio::signal::unix::Signal,
    cont: Option<tokio::signal::unix::Signal>,
}

enum Outside {
    Terminate,
    Continued,
}

impl Signals {
    /// Installs the handlers (before the terminal is touched).
    pub fn install() -> anyhow::Result<Signals> {
        use anyhow::Context as _;
        use tokio::signal::unix::{signal, SignalKind};
        Ok(Signals {
            term: signal(SignalKind::terminate()).context("installing the SIGTERM handler")?,
            hup: signal(SignalKind::hangup()).context("installing the SIGHUP handler")?,
            cont: signal(SignalKind::from_raw(libc::SIGCONT)).ok(),
        })
    }

    async fn recv(&mut self) -> Outside {
        let cont = async {
            match self.cont.as_mut() {
                Some(s) => {
                    s.recv().await;
                }
                None => std::future::pending::<()>().await,
            }
        };
        tokio::select! {
            _ = self.term.recv() => Outside::Terminate,
            _ = self.hup.recv() => Outside::Terminate,
            _ = cont => Outside::Continued,
        }
    }
}

/// The run loop on any backend and input stream: `select!` over input, engine events, the slow
/// tick and the frame deadline; handle one, drain what is pending, draw at most every `FRAME`.
/// `run` calls it on the real terminal with its `Signals`; benchmarks and tests call it on a
/// `TestBackend` with `signals: None` (then Ctrl-z does nothing and no signal is awaited).
/// Returns when the app quits, the input ends or the engine stops taking commands.
pub async fn drive<B, S>(
    app: &mut App,
    terminal: &mut Terminal<B>,
    input: &mut S,
    commands: &UnboundedSender<Command>,
    events: &mut UnboundedReceiver<Event>,
    mut signals: Option<&mut Signals>,
) -> anyhow::Result<()>
where
    B: ratatui::backend::Backend,
    S: futures::Stream<Item = io::Result<TermEvent>> + Unpin,
{
    use anyhow::Context as _;

    let send = |cmds: Vec<Command>| -> bool {
        for c in cmds {
            if commands.send(c).is_err() {
                return false;
            }
        }
        true
    };
    if !send(app.start()) {
        anyhow::bail!("the engine stopped before the UI started");
    }

    let mut slow = tokio::time::interval(SLOW_TICK);
    slow.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
    let mut last_draw = Instant::now() - FRAME;
    let mut engine_open = true;

    loop {
        if app.dirty && last_draw.elapsed() >= FRAME {
            terminal
                .draw(|f| app.render(f.area(), f.buffer_mut()))
                .context("drawing the screen")?;
            app.dirty = false;
            last_draw = Instant::now();
        }
        if !app.to_terminal.is_empty() {
            let bytes = std::mem::take(&mut app.to_terminal);
            // Only a real terminal (the one `run` set up, with its signals) gets them.
            if signals.is_some() {
                use std::io::Write as _;
                let mut out = io::stdout().lock();
                let _ = out.write_all(&bytes);
                let _ = out.flush();
            }
        }
        match app.control {
            Control::Quit => break,
            Control::Suspend if signals.is_none() => app.control = Control::None,
            Control::Suspend => {
                app.control = Control::None;
                restore();
                // SAFETY: raising a signal on our own process; the default SIGTSTP action stops
                // us, and execution continues here after SIGCONT.
                unsafe {
                    libc::raise(libc::SIGTSTP);
                }
                enter().context("re-entering the terminal after resume")?;
                terminal.clear().ok();
                app.dirty = true;
                continue;
            }
            Control::None => {}
        }
        let next_frame = last_draw + FRAME;
        tokio::select! {
            ev = input.next() => match ev {
                Some(Ok(TermEvent::Key(k))) if k.kind != KeyEventKind::Release => {
                    let cmds = app.handle_key(k);
                    if !send(cmds) { break; }
                }
                Some(Ok(TermEvent::Mouse(m))) => {
                    let cmds = app.handle_mouse(m);
                    if !send(cmds) { break; }
                }
                Some(Ok(TermEvent::Resize(w, h))) => {
                    app.resize(w, h);
                    terminal.autoresize().ok();
                }
                Some(Ok(_)) => {}
                Some(Err(e)) => return Err(e).context("reading terminal input"),
                None => break,
            },
            ev = events.recv(), if engine_open => match ev {
                Some(ev) => {
                    let mut cmds = app.on_event(ev);
                    // Drain what is already waiting before drawing once.
                    while let Ok(ev) = events.try_recv() {
                        cmds.extend(app.on_event(ev));
                    }
                    if !send(cmds) { break; }
                }
                None => {
                    engine_open = false;
                    app.set_sticky_status("the engine has stopped; q quits");
                    app.dirty = true;
                }
            },
            _ = slow.tick() => {
                if app.expire_status() || app.jobs.values().any(|j| j.state.is_active()) {
                    app.dirty = true;
                }
            }
            _ = tokio::time::sleep_until(next_frame), if app.dirty => {}
            sig = async { match signals.as_deref_mut() { Some(s) => s.recv().await, None => std::future::pending().await } } => match sig {
                Outside::Terminate => {
                    let _ = commands.send(Command::Shutdown);
                    break;
                }
                Outside::Continued => {
                    // Resumed by the shell (e.g. `fg` after an external SIGTSTP): repaint.
                    enter().ok();
                    terminal.clear().ok();
                    app.dirty = true;
                }
            },
        }
    }
    Ok(())
}
