//! kubesim held to the real server: the same requests (raw through kube-rs, and kubectl
//! command lines) to a real kube-apiserver and to kubesim, with status codes and bodies
//! compared. What kubesim does differently on purpose is listed in its README.

mod harness;

mod apply;
mod crds;
mod crud;
mod custom;
mod deletion;
mod events;
mod kube_rs;
mod kubectl;
mod watch;
