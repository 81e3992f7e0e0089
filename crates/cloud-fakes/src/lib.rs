//! Scripted fakes of the cloud client traits of `cache-operator-cloud`, one per trait, for tests
//! of the controllers' decisions: each keeps the little state its API has (a cluster, users and
//! groups, grants), answers as the service does for the cases the controllers meet, records
//! every call, and fails the calls a test names. Nothing here talks to a network; the cloud
//! simulator stays for end-to-end tests.
//!
//! Every fake records calls as `Operation subject` (`CreateUser app`, `get`) and drains them with
//! `asked()`; `fail(call, error)` makes every later call of that name fail until `heal()`.

mod clusters;
mod grants;
mod script;
mod serverless;
mod tokens;
mod users;

pub use clusters::FakeClusters;
pub use grants::FakeGrants;
pub use script::{Script, error};
pub use serverless::FakeServerless;
pub use tokens::{FakeAccessTokens, FakeIamTokens};
pub use users::FakeUsers;
