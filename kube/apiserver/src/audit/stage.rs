//! The stages of a request at which an audit event is written (`audit.k8s.io/v1` `Stage`),
//! and sets of them (a policy's `omitStages`).

/// When in a request's life an event is written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stage {
    /// Once the request is authenticated, before it is handled.
    RequestReceived,
    /// Once the answer's head is sent, for long-running requests (watches, pod logs, exec,
    /// attach, port-forward, proxy) and for requests that failed authentication.
    ResponseStarted,
    /// Once the answer is complete.
    ResponseComplete,
    /// When handling the request panicked.
    Panic,
}

impl Stage {
    /// Every stage, in a request's order.
    pub const ALL: [Stage; 4] = [
        Stage::RequestReceived,
        Stage::ResponseStarted,
        Stage::ResponseComplete,
        Stage::Panic,
    ];

    /// The name used in events and policies.
    pub fn as_str(self) -> &'static str {
        match self {
            Stage::RequestReceived => "RequestReceived",
            Stage::ResponseStarted => "ResponseStarted",
            Stage::ResponseComplete => "ResponseComplete",
            Stage::Panic => "Panic",
        }
    }

    /// The stage of a name.
    pub fn parse(name: &str) -> Option<Stage> {
        Stage::ALL.into_iter().find(|s| s.as_str() == name)
    }

    fn bit(self) -> u8 {
        1 << (self as u8)
    }
}

/// A set of stages.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Stages(u8);

impl Stages {
    /// No stage.
    pub const NONE: Stages = Stages(0);

    /// Whether `s` is in the set.
    pub fn contains(self, s: Stage) -> bool {
        self.0 & s.bit() != 0
    }

    /// The set with `s` too.
    #[must_use]
    pub fn with(self, s: Stage) -> Stages {
        Stages(self.0 | s.bit())
    }

    /// Both sets together.
    #[must_use]
    pub fn union(self, other: Stages) -> Stages {
        Stages(self.0 | other.0)
    }
}

impl FromIterator<Stage> for Stages {
    fn from_iter<I: IntoIterator<Item = Stage>>(iter: I) -> Stages {
        iter.into_iter().fold(Stages::NONE, Stages::with)
    }
}
