//! What every fake shares: the calls it was asked, and the failures a test scripted.

use std::sync::Mutex;

use cache_operator_cloud::{CloudError, ErrorClass};

/// A failed call as the service would answer it: `class`, the cloud's `code`, and `call` as
/// the clients name it (`elasticache CreateUser`).
pub fn error(class: ErrorClass, code: &str, call: &str) -> CloudError {
    CloudError::new(class, code, format!("{code} (scripted)"), call)
}

/// The calls of one fake, in order, and the failures scripted for it.
#[derive(Default)]
pub struct Script {
    asked: Mutex<Vec<String>>,
    failing: Mutex<Vec<(String, CloudError)>>,
}

impl Script {
    /// Every later call named `call` fails with `e`: an operation (`CreateUser`), or an
    /// operation and its subject (`CreateUser app`) for that call alone. The first scripted
    /// failure that matches is the answer.
    pub fn fail(&self, call: &str, e: CloudError) {
        self.failing
            .lock()
            .expect("script lock")
            .push((call.to_owned(), e));
    }

    /// No call fails any more.
    pub fn heal(&self) {
        self.failing.lock().expect("script lock").clear();
    }

    /// The calls since the last look, as `operation subject`.
    pub fn asked(&self) -> Vec<String> {
        std::mem::take(&mut *self.asked.lock().expect("script lock"))
    }

    /// Record the call `operation subject`, failing as scripted.
    pub fn ask(&self, operation: &str, subject: &str) -> Result<(), CloudError> {
        let line = if subject.is_empty() {
            operation.to_owned()
        } else {
            format!("{operation} {subject}")
        };
        let failing = self.failing.lock().expect("script lock");
        let found = failing
            .iter()
            .find(|(call, _)| call == operation || *call == line);
        self.asked.lock().expect("script lock").push(line.clone());
        match found {
            Some((_, e)) => Err(e.clone()),
            None => Ok(()),
        }
    }
}
