//! Go to a typed location (`:`): `cos://BUCKET-APPID/prefix/` (or an `s3://` URI) opens that
//! listing on Browse; an object's URI opens its folder. A bucket name alone is taken as
//! `cos://NAME/`. Enter goes,
//! Esc closes; a URI that does not parse says why and stays open.

use crossterm::event::{KeyCode, KeyEvent};
use tui_input::Input;

use super::Reply;
use crate::store::CosUri;

#[derive(Debug, Clone, Default)]
pub struct Goto {
    pub input: Input,
    pub error: Option<String>,
}

impl Goto {
    /// The dialog, with `start` (the current location) typed in.
    pub fn new(start: &str) -> Goto {
        Goto {
            input: Input::new(start.to_string()),
            error: None,
        }
    }

    pub fn handle_key(&mut self, ev: KeyEvent) -> Reply {
        match ev.code {
            KeyCode::Esc => Reply::Close,
            KeyCode::Enter => match parse(self.input.value()) {
                Ok(uri) => Reply::Goto(uri),
                Err(e) => {
                    self.error = Some(e);
                    Reply::Keep
                }
            },
            KeyCode::Char('c')
                if ev
                    .modifiers
                    .contains(crossterm::event::KeyModifiers::CONTROL) =>
            {
                Reply::Quit
            }
            _ => {
                if let Some(req) = tui_input::backend::crossterm::to_input_request(
                    &crossterm::event::Event::Key(ev),
                ) {
                    self.input.handle(req);
                    self.error = None;
                }
                Reply::Keep
            }
        }
    }
}

/// A typed location as a URI: `cos://` may be left out.
pub fn parse(text: &str) -> Result<CosUri, String> {
    let t = text.trim();
    if t.is_empty() {
        return Err("type a location: cos://BUCKET-APPID/prefix/".into());
    }
    let full = if t.contains("://") {
        t.to_string()
    } else {
        format!("cos://{t}")
    };
    let full = if full.trim_start_matches("cos://").contains('/') {
        full
    } else {
        format!("{full}/")
    };
    CosUri::parse(&full).map_err(|e| e.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_location_may_leave_out_the_scheme_and_the_slash() {
        assert_eq!(
            parse("media-1250000000").unwrap().to_string(),
            "cos://media-1250000000/"
        );
        assert_eq!(
            parse(" cos://media-1250000000/raw/x.mov ").unwrap().key,
            "raw/x.mov"
        );
        assert!(parse("").is_err());
        assert!(parse("cos://Not_A_Bucket/").is_err());
    }
}
