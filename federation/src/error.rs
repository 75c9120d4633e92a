//! The federation's errors: starting the control plane and talking to its API.

/// A failure of the federation control plane.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The API server could not start.
    #[error("starting the API server: {0}")]
    Start(#[from] cceone_kube_apiserver::StartError),
    /// Installing the federation's kinds through the in-process API failed.
    #[error("installing {what}: {source}")]
    Install {
        /// What was being installed.
        what: String,
        /// The API's answer.
        #[source]
        source: Box<cceone_kube_apiserver::ApiError>,
    },
    /// The platform's CRDs could not be applied.
    #[error(transparent)]
    Platform(#[from] cceone_platform::PlatformError),
    /// The controllers' client could not be built from the admin kubeconfig.
    #[error("building the controllers' client: {0}")]
    Client(String),
    /// A request to the federation API failed.
    #[error(transparent)]
    Kube(#[from] kube::Error),
    /// An in-process call of the federation API failed.
    #[error(transparent)]
    Api(Box<cceone_kube_apiserver::ApiError>),
    /// A JSON value could not be converted.
    #[error("json: {0}")]
    Json(#[from] serde_json::Error),
    /// Writing a file failed.
    #[error("i/o: {0}")]
    Io(#[from] std::io::Error),
}

impl From<cceone_kube_apiserver::ApiError> for Error {
    fn from(e: cceone_kube_apiserver::ApiError) -> Error {
        Error::Api(Box::new(e))
    }
}

impl Error {
    /// The HTTP status code of an API error, if this is one.
    pub fn status_code(&self) -> Option<u16> {
        match self {
            Error::Kube(kube::Error::Api(status)) => Some(status.code),
            Error::Api(e) => Some(e.code()),
            _ => None,
        }
    }

    /// Whether the API refused a write because the object changed meanwhile (409 on an update,
    /// or a create racing another), which a retry from a fresher cache resolves.
    pub fn is_conflict(&self) -> bool {
        self.status_code() == Some(409)
    }

    /// Whether a create found the object already there.
    pub fn is_already_exists(&self) -> bool {
        match self {
            Error::Api(e) => matches!(**e, cceone_kube_apiserver::ApiError::AlreadyExists { .. }),
            Error::Kube(kube::Error::Api(s)) => s.reason == "AlreadyExists",
            _ => false,
        }
    }

    /// Whether the object was not found (404).
    pub fn is_not_found(&self) -> bool {
        self.status_code() == Some(404)
    }
}
