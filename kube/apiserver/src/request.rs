//! Who is making the request being served, for admission hooks: kube-apiserver hands its
//! admission plugins the request's user (`admission.Attributes.GetUserInfo`,
//! k8s.io/apiserver/pkg/admission/interfaces.go); here the HTTP layer sets it for the task
//! serving the request. In-process writes (the controllers') have none.

use std::future::Future;

tokio::task_local! {
    static USER: String;
}

/// The user of the HTTP request this task is serving (after impersonation), if any.
pub fn current_user() -> Option<String> {
    USER.try_with(Clone::clone).ok()
}

/// Run `f` as serving a request of `user`.
pub(crate) async fn with_user<F: Future>(user: String, f: F) -> F::Output {
    USER.scope(user, f).await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn the_user_is_known_inside_the_request_only() {
        assert_eq!(current_user(), None);
        let inside = with_user("alice".into(), async { current_user() }).await;
        assert_eq!(inside.as_deref(), Some("alice"));
        assert_eq!(current_user(), None);
    }
}
