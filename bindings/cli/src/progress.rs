//! Progress bars on stderr for steps that can take more than a second.
//!
//! One [`Progress`] per command decides once whether anything is drawn: nothing
//! with `--quiet`, and nothing when stderr is not a terminal (pipes, CI logs), so
//! results on stdout and scripts reading them never see a bar.

use std::io::IsTerminal;
use std::time::Duration;

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

/// Whether this command draws progress, and the factory of its bars.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Progress {
    visible: bool,
}

impl Progress {
    /// Bars are drawn unless `quiet` or stderr is not a terminal.
    pub(crate) fn new(quiet: bool) -> Self {
        Progress {
            visible: !quiet && std::io::stderr().is_terminal(),
        }
    }

    /// A bar over `len` units (`unit` names them: "rows", "queries").
    pub(crate) fn bar(self, len: u64, what: &str, unit: &str) -> Step {
        let bar = self.target(ProgressBar::new(len));
        let template = format!(
            "{{spinner}} {what} [{{bar:30}}] {{human_pos}}/{{human_len}} {unit} \
             ({{per_sec}}, {{elapsed}} elapsed, eta {{eta}})"
        );
        if let Ok(style) = ProgressStyle::with_template(&template) {
            bar.set_style(style.progress_chars("=> "));
        }
        Step { bar }
    }

    /// A spinner for a step whose size is unknown (reading a file, a graph build).
    pub(crate) fn spinner(self, what: &str) -> Step {
        let bar = self.target(ProgressBar::new_spinner());
        if let Ok(style) = ProgressStyle::with_template("{spinner} {msg} ({elapsed})") {
            bar.set_style(style);
        }
        bar.set_message(what.to_owned());
        bar.enable_steady_tick(Duration::from_millis(120));
        Step { bar }
    }

    fn target(self, bar: ProgressBar) -> ProgressBar {
        let target = if self.visible {
            ProgressDrawTarget::stderr()
        } else {
            ProgressDrawTarget::hidden()
        };
        bar.set_draw_target(target);
        bar
    }
}

/// One step's bar or spinner; cleared from the screen when dropped.
#[derive(Debug)]
pub(crate) struct Step {
    bar: ProgressBar,
}

impl Step {
    /// Advances the bar by `n` units.
    pub(crate) fn inc(&self, n: u64) {
        self.bar.inc(n);
    }

    /// Replaces the spinner's message.
    pub(crate) fn set_message(&self, msg: String) {
        self.bar.set_message(msg);
    }
}

impl Drop for Step {
    fn drop(&mut self) {
        self.bar.finish_and_clear();
    }
}
