//! Copying text to the user's clipboard through the terminal: OSC 52 (`ESC ] 52 ; c ; BASE64
//! BEL`), which xterm, kitty, WezTerm, iTerm2, foot, Windows Terminal and tmux (with
//! `set-clipboard on`) understand, locally and over SSH. No clipboard crate, no display server.
//!
//! Pure: builds the bytes; the run loop writes them to the terminal (`App::to_terminal`).

use base64::Engine as _;

/// Longest text sent: some terminals drop longer OSC 52 payloads (xterm's default limit is
/// about 100 kB of base64).
pub const MAX_TEXT: usize = 64 * 1024;

/// The OSC 52 sequence that puts `text` on the clipboard; `None` when it is too long.
pub fn osc52(text: &str) -> Option<Vec<u8>> {
    if text.len() > MAX_TEXT {
        return None;
    }
    let mut out = b"\x1b]52;c;".to_vec();
    out.extend(
        base64::engine::general_purpose::STANDARD
            .encode(text)
            .bytes(),
    );
    out.push(0x07);
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn osc52_wraps_base64_of_the_text() {
        assert_eq!(
            osc52("cos://a-1250000000/k").unwrap(),
            b"\x1b]52;c;Y29zOi8vYS0xMjUwMDAwMDAwL2s=\x07".to_vec()
        );
        assert!(osc52(&"x".repeat(MAX_TEXT + 1)).is_none());
    }
}
