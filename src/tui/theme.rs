//! Colours and glyphs, chosen once at start-up from the environment and the command line.
//!
//! Designed for 16 ANSI colours first: they read on dark and light backgrounds and survive
//! tmux, screen and SSH. With `NO_COLOR` (or `--no-color`) nothing carries meaning by colour:
//! selection is reverse video and PASS/FAIL is always written out. `--ascii` swaps box drawing
//! and block glyphs for plain ASCII, for PuTTY and Linux consoles with poor fonts.

use ratatui::style::{Color, Modifier, Style};
use ratatui::symbols::border;

/// How much colour the terminal gets.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ColorMode {
    /// No colour at all: only bold and reverse video.
    None,
    /// The 16 ANSI colours.
    Ansi16,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Theme {
    pub color: ColorMode,
    pub ascii: bool,
}

/// The border set for `--ascii`.
const ASCII_BORDER: border::Set<'static> = border::Set {
    top_left: "+",
    top_right: "+",
    bottom_left: "+",
    bottom_right: "+",
    vertical_left: "|",
    vertical_right: "|",
    horizontal_top: "-",
    horizontal_bottom: "-",
};

/// Glyphs for vertical bars, from empty to full in eighths.
const UNICODE_EIGHTHS: [&str; 9] = [" ", "▁", "▂", "▃", "▄", "▅", "▆", "▇", "█"];
const ASCII_EIGHTHS: [&str; 9] = [" ", " ", " ", ".", ".", ":", ":", "#", "#"];

impl Theme {
    /// The theme for this process: colour unless `NO_COLOR` is set and non-empty (the
    /// convention at no-color.org) or the caller asked for none.
    pub fn from_env(no_color_flag: bool, ascii: bool) -> Theme {
        let no_color_env = std::env::var_os("NO_COLOR").is_some_and(|v| !v.is_empty());
        let dumb = std::env::var("TERM").is_ok_and(|t| t == "dumb");
        Theme {
            color: if no_color_flag || no_color_env || dumb {
                ColorMode::None
            } else {
                ColorMode::Ansi16
            },
            ascii,
        }
    }

    pub fn plain() -> Theme {
        Theme {
            color: ColorMode::None,
            ascii: false,
        }
    }

    fn fg(&self, color: Color) -> Style {
        match self.color {
            ColorMode::None => Style::default(),
            ColorMode::Ansi16 => Style::default().fg(color),
        }
    }

    pub fn border(&self) -> border::Set<'static> {
        if self.ascii {
            ASCII_BORDER
        } else {
            border::PLAIN
        }
    }

    /// A bar glyph for a fill of `eighths` (0..=8).
    pub fn bar_glyph(&self, eighths: usize) -> &'static str {
        let set = if self.ascii {
            &ASCII_EIGHTHS
        } else {
            &UNICODE_EIGHTHS
        };
        set[eighths.min(8)]
    }

    /// The separator between items in one-line summaries.
    pub fn dot(&self) -> &'static str {
        if self.ascii {
            " | "
        } else {
            " · "
        }
    }

    pub fn normal(&self) -> Style {
        Style::default()
    }

    /// Titles and headings: bold, which some fonts do not show, so never the only cue.
    pub fn heading(&self) -> Style {
        self.fg(Color::Cyan).add_modifier(Modifier::BOLD)
    }

    pub fn dim(&self) -> Style {
        match self.color {
            ColorMode::None => Style::default(),
            ColorMode::Ansi16 => Style::default().fg(Color::DarkGray),
        }
    }

    /// The selected row or the current tab: reverse video reads without colour too.
    pub fn selected(&self) -> Style {
        Style::default().add_modifier(Modifier::REVERSED)
    }

    pub fn key(&self) -> Style {
        self.fg(Color::Yellow).add_modifier(Modifier::BOLD)
    }

    pub fn ok(&self) -> Style {
        self.fg(Color::Green)
    }

    pub fn warn(&self) -> Style {
        self.fg(Color::Yellow)
    }

    pub fn bad(&self) -> Style {
        self.fg(Color::Red).add_modifier(Modifier::BOLD)
    }

    /// The big PASS or FAIL banner and refused scans: colour plus reverse, so it shouts
    /// on a monochrome screen as well.
    pub fn banner(&self, good: bool) -> Style {
        let base = if good { self.ok() } else { self.bad() };
        base.add_modifier(Modifier::REVERSED | Modifier::BOLD)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn no_color_theme_uses_no_colours() {
        let t = Theme::plain();
        for s in [t.heading(), t.ok(), t.bad(), t.warn(), t.key(), t.dim()] {
            assert_eq!(s.fg, None);
            assert_eq!(s.bg, None);
        }
        assert!(t.selected().add_modifier.contains(Modifier::REVERSED));
        assert!(t.banner(false).add_modifier.contains(Modifier::REVERSED));
    }

    #[test]
    fn ascii_theme_has_only_ascii_glyphs() {
        let t = Theme {
            color: ColorMode::Ansi16,
            ascii: true,
        };
        let b = t.border();
        for g in [b.top_left, b.horizontal_top, b.vertical_left, t.dot()] {
            assert!(g.is_ascii(), "{g}");
        }
        for e in 0..=8 {
            assert!(t.bar_glyph(e).is_ascii());
        }
        assert_eq!(t.bar_glyph(99), "#");
    }
}
