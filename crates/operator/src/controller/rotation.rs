//! The one rotation state machine for every credential the operator generates and replaces
//! with an overlap: ElastiCache user passwords (a UserGroup's) and the AUTH token of an
//! `authMode: token` cluster.
//!
//! A credential has three slots: `current` (what clients are given), `pending` (added in the
//! cloud, not yet given to clients) and `previous` (no longer given out, still accepted until
//! the overlap ends). A rotation goes: record a new `pending` → have the cloud accept current and
//! pending → promote pending to current (the old current becomes previous) → after the overlap,
//! have the cloud accept current alone → forget previous.
//!
//! Every step is decided from the record (kept in a Secret), the clock and what the cloud
//! reports, never from memory; a step that changes the record is saved before the cloud call
//! that depends on it, so a crash between the two leaves a state the next pass completes: the
//! cloud only ever holds credentials the record knows (or unknown ones the next step replaces),
//! and `current` is only ever a credential the cloud accepts.

use std::time::Duration;

use cache_operator_api::model::AuthToken;
use jiff::Timestamp;

/// A credential that rotates: what its `previous` slot keeps of it. A password is kept whole
/// (the cloud is told the whole set it accepts); of an AUTH token only that it is still
/// accepted (the cloud is told to add or to keep only one).
pub trait Credential: Clone + PartialEq {
    type Previous: Clone + PartialEq;
    fn retire(&self) -> Self::Previous;
    /// What a promotion keeps of a current credential nobody knew (the cloud's, before the
    /// operator's first): retired too when the cloud can be told to drop it without naming it.
    fn retire_unknown() -> Option<Self::Previous>;
}

impl Credential for String {
    type Previous = String;
    fn retire(&self) -> String {
        self.clone()
    }
    fn retire_unknown() -> Option<String> {
        None
    }
}

impl Credential for AuthToken {
    type Previous = ();
    fn retire(&self) {}
    /// SET keeps the current token alone, whatever the other was.
    fn retire_unknown() -> Option<()> {
        Some(())
    }
}

/// The record of one credential.
#[derive(Clone, PartialEq)]
pub struct Slots<S: Credential> {
    /// What clients are given; `None` while the cloud's credential is unknown to the operator
    /// (an adopted cluster, a deleted Secret) until a rotation replaces it.
    pub current: Option<S>,
    /// Being added in the cloud, not yet given to clients.
    pub pending: Option<S>,
    /// No longer given out, still accepted by the cloud until the overlap ends.
    pub previous: Option<S::Previous>,
    /// When `current` became current.
    pub rotated_at: Timestamp,
    /// When the last add or retire was sent, for a cloud that reports when its last change was
    /// applied (AUTH tokens); passwords need not keep it.
    pub requested_at: Option<Timestamp>,
}

impl<S: Credential> Slots<S> {
    /// Nothing known yet: the next step adds a new credential.
    pub fn unknown(now: Timestamp) -> Self {
        Slots {
            current: None,
            pending: None,
            previous: None,
            rotated_at: now,
            requested_at: None,
        }
    }

    /// A record with `current` alone, made at `now`.
    pub fn with(current: S, now: Timestamp) -> Self {
        Slots {
            current: Some(current),
            ..Slots::unknown(now)
        }
    }

    /// When the next rotation is due.
    pub fn rotate_at(&self, interval: Duration) -> Timestamp {
        plus(self.rotated_at, interval)
    }
}

/// What the cloud accepts, in terms of the record (each credential's adapter reads it from
/// what its cloud reports: a password count, or when the last token change was applied).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Holds {
    Current,
    CurrentAndPending,
    CurrentAndPrevious,
    /// Something else than the record says (another number of passwords).
    Other,
}

/// The cloud as a step sees it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Cloud {
    /// Applying a change: nothing can be sent now.
    Busy,
    Holds(Holds),
}

/// What to have the cloud accept.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Send {
    /// The current and the pending credential (ElastiCache: both passwords, or ROTATE).
    CurrentAndPending,
    /// The current credential alone (one password, or SET).
    Current,
    /// What the record says it accepts now: previous (during the overlap) and current.
    Recorded,
}

/// The next thing to do about one credential.
#[derive(Clone, PartialEq)]
pub enum Step<S: Credential> {
    /// Write `record`, then have the cloud accept what `send` says, if anything; `rotated` when
    /// clients are now given a new credential.
    Save {
        record: Slots<S>,
        send: Option<Send>,
        rotated: bool,
    },
    /// The cloud holds something else than the record: have it accept what the record says.
    Heal,
    /// The cloud is busy: look again.
    Wait,
    /// Nothing to do until `next`.
    Idle { next: Timestamp },
}

impl<S: Credential> std::fmt::Debug for Step<S> {
    /// Never a credential: which step, and the times.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Step::Save {
                record,
                send,
                rotated,
            } => write!(
                f,
                "Save(current {}, pending {}, previous {}, send {send:?}, rotated {rotated})",
                record.current.is_some(),
                record.pending.is_some(),
                record.previous.is_some()
            ),
            Step::Heal => f.write_str("Heal"),
            Step::Wait => f.write_str("Wait"),
            Step::Idle { next } => write!(f, "Idle(until {next})"),
        }
    }
}

/// How long the previous credential stays accepted after a rotation: the configured overlap,
/// but never more than half the interval, so that a rotation always finds the previous one
/// retired.
pub fn overlap(configured: Duration, interval: Duration) -> Duration {
    configured.min(interval / 2)
}

/// `t + d`, at the end of time when that is past it.
pub fn plus(t: Timestamp, d: Duration) -> Timestamp {
    jiff::SignedDuration::try_from(d)
        .ok()
        .and_then(|d| t.checked_add(d).ok())
        .unwrap_or(Timestamp::MAX)
}

/// The rotation's timing.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Timing {
    /// How often the credential is replaced.
    pub interval: Duration,
    /// How long the previous one stays accepted (see [`overlap`]).
    pub overlap: Duration,
}

/// Decide the next step for one credential. `new` is the credential a rotation would introduce
/// (taken only when one begins).
pub fn step<S: Credential>(
    r: &Slots<S>,
    cloud: Cloud,
    now: Timestamp,
    timing: Timing,
    new: &S,
) -> Step<S> {
    let save = |record: Slots<S>, send: Option<Send>| Step::Save {
        record,
        send,
        rotated: false,
    };
    let begin = || Slots {
        pending: Some(new.clone()),
        requested_at: None,
        ..r.clone()
    };
    if r.current.is_none() && r.pending.is_none() {
        // Nothing clients could be given: a new credential, rotated in.
        return save(begin(), None);
    }
    let Cloud::Holds(holds) = cloud else {
        return Step::Wait;
    };
    let requested = || Slots {
        requested_at: Some(now),
        ..r.clone()
    };
    if let Some(pending) = &r.pending {
        return if holds == Holds::CurrentAndPending {
            Step::Save {
                record: Slots {
                    current: Some(pending.clone()),
                    pending: None,
                    previous: match &r.current {
                        Some(current) => Some(current.retire()),
                        None => S::retire_unknown(),
                    },
                    rotated_at: now,
                    requested_at: None,
                },
                send: None,
                rotated: true,
            }
        } else {
            // Not sent yet, or sent and never applied by a cloud that is idle again.
            save(requested(), Some(Send::CurrentAndPending))
        };
    }
    if r.previous.is_some() {
        let ends = plus(r.rotated_at, overlap(timing.overlap, timing.interval));
        let forget = Slots {
            previous: None,
            requested_at: None,
            ..r.clone()
        };
        return match holds {
            Holds::CurrentAndPrevious if now < ends => Step::Idle { next: ends },
            Holds::CurrentAndPrevious => save(requested(), Some(Send::Current)),
            // The retire that was sent took, or the cloud dropped it on its own after the
            // overlap: only the record is left to update.
            Holds::Current if r.requested_at.is_some() => save(forget, None),
            _ if now >= ends => save(forget, None),
            _ => Step::Heal,
        };
    }
    if holds != Holds::Current {
        return Step::Heal;
    }
    let due = r.rotate_at(timing.interval);
    if now >= due {
        save(begin(), None)
    } else {
        Step::Idle { next: due }
    }
}

/// Where a credential stands after [`advance`].
#[derive(Clone, PartialEq)]
pub struct Advanced<S: Credential> {
    /// The record as it is to be saved (equal to the one found when nothing changed).
    pub record: Slots<S>,
    /// What to have the cloud accept, after the record is saved.
    pub send: Option<Send>,
    /// Clients are now given a new credential.
    pub rotated: bool,
    /// When to look again: `None` when something is under way (soon).
    pub next: Option<Timestamp>,
}

/// The steps one pass takes: record-only steps follow each other at once (a rotation's
/// beginning, a promotion, a forgotten previous), up to the first cloud call or wait. `view`
/// says what the cloud holds in terms of a record.
pub fn advance<S: Credential>(
    record: &Slots<S>,
    view: impl Fn(&Slots<S>) -> Cloud,
    now: Timestamp,
    timing: Timing,
    new: &S,
) -> Advanced<S> {
    let mut out = Advanced {
        record: record.clone(),
        send: None,
        rotated: false,
        next: None,
    };
    // Each record-only step leads to a step that is not one, so three always suffice.
    for _ in 0..4 {
        match step(&out.record, view(&out.record), now, timing, new) {
            Step::Save {
                record,
                send,
                rotated,
            } => {
                out.record = record;
                out.rotated |= rotated;
                if send.is_some() {
                    out.send = send;
                    return out;
                }
            }
            Step::Heal => {
                out.send = Some(Send::Recorded);
                return out;
            }
            Step::Wait => return out,
            Step::Idle { next } => {
                out.next = Some(next);
                return out;
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use cache_operator_testkit::at;

    use super::*;

    const MIN: Duration = Duration::from_secs(60);
    const TIMING: Timing = Timing {
        interval: Duration::from_secs(600),
        overlap: Duration::from_secs(120),
    };

    fn slots(current: &str, rotated_at: i64) -> Slots<String> {
        Slots::with(current.to_owned(), at(rotated_at))
    }

    fn saved(s: Step<String>) -> (Slots<String>, Option<Send>, bool) {
        match s {
            Step::Save {
                record,
                send,
                rotated,
            } => (record, send, rotated),
            other => panic!("expected a save, got {other:?}"),
        }
    }

    const NEW: &str = "new";

    fn step_at(r: &Slots<String>, holds: Holds, now: i64) -> Step<String> {
        step(r, Cloud::Holds(holds), at(now), TIMING, &NEW.to_owned())
    }

    /// Every branch of [`step`], by the record's slots, what the cloud holds and the clock.
    #[test]
    fn each_situation_has_one_next_step() {
        let steady = slots("p1", 0);
        let mut adding = steady.clone();
        adding.pending = Some(NEW.into());
        let mut overlapping = slots(NEW, 600);
        overlapping.previous = Some("p1".into());
        let mut retiring = overlapping.clone();
        retiring.requested_at = Some(at(720));
        use Holds::*;
        // (case, record, holds, now) → step
        type Row<'a> = (&'a str, &'a Slots<String>, Holds, i64, Step<String>);
        #[rustfmt::skip]
        let table: Vec<Row> = vec![
            ("steady, not due", &steady, Current, 60, Step::Idle { next: at(600) }),
            ("steady, due: record a new pending first", &steady, Current, 600,
                Step::Save { record: Slots { pending: Some(NEW.into()), ..steady.clone() }, send: None, rotated: false }),
            ("steady, the cloud disagrees", &steady, Other, 60, Step::Heal),
            ("steady, two in the cloud", &steady, CurrentAndPending, 60, Step::Heal),
            ("pending, not in the cloud: add it", &adding, Current, 601,
                Step::Save { record: Slots { requested_at: Some(at(601)), ..adding.clone() }, send: Some(Send::CurrentAndPending), rotated: false }),
            ("pending, the cloud holds both: promote", &adding, CurrentAndPending, 610,
                Step::Save { record: Slots { current: Some(NEW.into()), pending: None, previous: Some("p1".into()), rotated_at: at(610), requested_at: None }, send: None, rotated: true }),
            ("overlap running", &overlapping, CurrentAndPrevious, 700, Step::Idle { next: at(720) }),
            ("overlap running, the cloud lost one", &overlapping, Current, 700, Step::Heal),
            ("overlap over: retire the previous", &overlapping, CurrentAndPrevious, 720,
                Step::Save { record: Slots { requested_at: Some(at(720)), ..overlapping.clone() }, send: Some(Send::Current), rotated: false }),
            ("overlap over, already retired in the cloud", &overlapping, Current, 721,
                Step::Save { record: Slots { previous: None, ..overlapping.clone() }, send: None, rotated: false }),
            ("overlap over, the cloud disagrees", &overlapping, Other, 721,
                Step::Save { record: Slots { previous: None, ..overlapping.clone() }, send: None, rotated: false }),
            ("the retire sent took", &retiring, Current, 722,
                Step::Save { record: Slots { previous: None, requested_at: None, ..retiring.clone() }, send: None, rotated: false }),
        ];
        for (case, r, holds, now, want) in table {
            assert!(
                step_at(r, holds, now) == want,
                "{case}: {:?}",
                step_at(r, holds, now)
            );
        }
        // A busy cloud is waited for, whatever the record.
        for r in [&steady, &adding, &overlapping] {
            assert_eq!(
                format!("{:?}", step(r, Cloud::Busy, at(700), TIMING, &NEW.into())),
                "Wait"
            );
        }
        // Nothing known: a new credential, before anything else (the cloud may be busy).
        let unknown = Slots::<String>::unknown(at(0));
        let (r, send, rotated) = saved(step(&unknown, Cloud::Busy, at(1), TIMING, &NEW.into()));
        assert_eq!(
            (r.pending.as_deref(), send, rotated),
            (Some(NEW), None, false)
        );
    }

    #[test]
    fn the_overlap_never_exceeds_half_the_interval() {
        assert_eq!(overlap(10 * MIN, 4 * MIN), 2 * MIN);
        assert_eq!(overlap(MIN, 10 * MIN), MIN);
        assert_eq!(plus(Timestamp::MAX, MIN), Timestamp::MAX);
    }

    /// A cloud that counts what it accepts (passwords): both after an add, one after a retire.
    fn counted(count: u32) -> impl Fn(&Slots<String>) -> Cloud {
        move |r: &Slots<String>| {
            Cloud::Holds(match (count, r.pending.is_some(), r.previous.is_some()) {
                (2, true, _) => Holds::CurrentAndPending,
                (2, _, true) => Holds::CurrentAndPrevious,
                (1, _, _) => Holds::Current,
                _ => Holds::Other,
            })
        }
    }

    /// A whole rotation, one pass at a time, with the cloud doing what was sent: each pass
    /// takes the record-only steps at once and stops at the first call.
    #[test]
    fn a_rotation_overlaps_two_credentials_then_keeps_the_new_one() {
        let new = NEW.to_owned();
        let r = slots("p1", 0);
        let a = advance(&r, counted(1), at(60), TIMING, &new);
        assert!(a.record == r && a.send.is_none() && a.next == Some(at(600)));

        // Due: the new one is recorded as pending and sent in the same pass.
        let a = advance(&r, counted(1), at(600), TIMING, &new);
        assert_eq!((a.send, a.rotated), (Some(Send::CurrentAndPending), false));
        assert_eq!(a.record.pending.as_deref(), Some(NEW));
        assert_eq!(a.record.current.as_deref(), Some("p1"), "clients keep p1");

        // The cloud holds both: promoted, and the overlap runs (one pass).
        let a = advance(&a.record, counted(2), at(610), TIMING, &new);
        assert!(a.rotated && a.send.is_none());
        assert_eq!(a.record.current.as_deref(), Some(NEW));
        assert_eq!(a.record.previous.as_deref(), Some("p1"));
        assert_eq!(a.next, Some(at(730)));

        // The overlap is over: the previous one is retired, then forgotten.
        let a = advance(&a.record, counted(2), at(730), TIMING, &new);
        assert_eq!(a.send, Some(Send::Current));
        let a = advance(&a.record, counted(1), at(731), TIMING, &new);
        assert!(a.record.previous.is_none() && a.send.is_none());
        assert_eq!(a.next, Some(at(1210)), "the next rotation, an interval on");

        // A busy cloud stops the pass where it is.
        let busy = advance(
            &a.record,
            |_: &Slots<String>| Cloud::Busy,
            at(2000),
            TIMING,
            &new,
        );
        assert!(busy.record == a.record && busy.send.is_none() && busy.next.is_none());
    }

    #[test]
    fn debug_never_shows_a_credential() {
        let mut r = slots("secret-one", 0);
        r.pending = Some("secret-two".into());
        let shown = format!(
            "{:?}",
            Step::Save {
                record: r,
                send: None,
                rotated: false
            }
        );
        assert!(!shown.contains("secret"), "{shown}");
    }
}
