//! Drawing helpers every screen shares: fitting text to a width, optional numbers, the
//! bordered block with a title, centring a box and keeping a selection in view.

use super::theme::Theme;
use ratatui::layout::Rect;
use ratatui::text::Span;
use ratatui::widgets::Block;

/// Pad or cut `s` to exactly `w` characters.
pub fn fit(s: &str, w: usize) -> String {
    let n = s.chars().count();
    if n <= w {
        format!("{s}{}", " ".repeat(w - n))
    } else if w == 0 {
        String::new()
    } else {
        let mut out: String = s.chars().take(w - 1).collect();
        out.push('~');
        out
    }
}

/// Right-align `s` in `w` characters.
pub fn rfit(s: &str, w: usize) -> String {
    let n = s.chars().count();
    if n >= w {
        fit(s, w)
    } else {
        format!("{}{s}", " ".repeat(w - n))
    }
}

/// A number with `decimals` places, or `-` when there is none.
pub fn opt(v: Option<f64>, decimals: usize) -> String {
    v.map(|v| format!("{v:.decimals$}"))
        .unwrap_or_else(|| "-".into())
}

/// A bordered box with its title in the heading style.
pub fn block<'a>(theme: &Theme, title: &'a str) -> Block<'a> {
    Block::bordered()
        .border_set(theme.border())
        .title(Span::styled(format!(" {title} "), theme.heading()))
}

/// A `w`×`h` box in the middle of `area` (cut to fit).
pub fn centered(area: Rect, w: u16, h: u16) -> Rect {
    let w = w.min(area.width);
    let h = h.min(area.height);
    Rect {
        x: area.x + (area.width - w) / 2,
        y: area.y + (area.height - h) / 2,
        width: w,
        height: h,
    }
}

/// Rows `selected` is kept visible in, for a list of `len` rows in `height` rows.
pub fn window(len: usize, selected: usize, height: usize) -> std::ops::Range<usize> {
    if len <= height {
        return 0..len;
    }
    let start = selected.saturating_sub(height / 2).min(len - height);
    start..start + height
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fit_pads_and_cuts() {
        assert_eq!(fit("abc", 5), "abc  ");
        assert_eq!(fit("abcdef", 4), "abc~");
        assert_eq!(fit("x", 0), "");
        assert_eq!(rfit("7", 3), "  7");
    }

    #[test]
    fn window_keeps_the_selection_visible() {
        assert_eq!(window(5, 3, 10), 0..5);
        assert_eq!(window(100, 0, 10), 0..10);
        assert_eq!(window(100, 50, 10), 45..55);
        assert_eq!(window(100, 99, 10), 90..100);
    }
}
