//! The `authentication` section of a `tollgate.yaml`: which tokens are
//! accepted (the API server's own `AuthenticationConfiguration` file), who
//! owns each identity, and what happens to an identity no owner rule maps —
//! read with serde and turned into an [`AuthnLayer`] by
//! [`AuthnConfig::layer`].
//!
//! ```yaml
//! authentication:
//!   mode: oidc                  # or none: every request as the gateway itself
//!   config: authn.yaml          # the API server's AuthenticationConfiguration
//!   owners: owners.yaml         # owner rules (a YAML list)
//!   unmapped: allow             # or refuse
//!   nbfLeewaySeconds: 60
//!   algorithms:                 # optional, per issuer
//!     https://token.actions.githubusercontent.com: [RS256]
//! ```
//!
//! ```
//! use tollgate_oidc::config::{AuthnConfig, AuthnMode};
//! let a: AuthnConfig = tollgate_kube::from_yaml("mode: oidc\nconfig: authn.yaml\nunmapped: refuse\n", "t.yaml")?;
//! a.validate("t.yaml")?;
//! assert_eq!(a.mode, AuthnMode::Oidc);
//! let a: AuthnConfig = tollgate_kube::from_yaml("mode: oidc\n", "t.yaml")?;
//! assert_eq!(a.validate("t.yaml").unwrap_err().field, "authentication.config");
//! # Ok::<(), tollgate_kube::ConfigError>(())
//! ```

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use serde::Deserialize;
use tollgate_kube::ConfigError;

use crate::{AuthnLayer, OwnerMapper, Verifier, parse_algorithm, parse_authentication_configuration};

/// Authentication.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
#[non_exhaustive]
pub struct AuthnConfig {
    /// How clients are authenticated.
    pub mode: AuthnMode,
    /// The API server's `AuthenticationConfiguration` file (mode `oidc`).
    #[serde(default)]
    pub config: Option<PathBuf>,
    /// The owner rules file (a YAML list).
    #[serde(default)]
    pub owners: Option<PathBuf>,
    /// Identities no owner rule maps.
    #[serde(default)]
    pub unmapped: Unmapped,
    /// Leeway for `nbf`.
    #[serde(default = "sixty")]
    pub nbf_leeway_seconds: u64,
    /// Per-issuer allowed signing algorithms (default: all asymmetric ones).
    #[serde(default)]
    pub algorithms: BTreeMap<String, Vec<String>>,
}

fn sixty() -> u64 {
    60
}

/// How clients are authenticated.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase")]
#[non_exhaustive]
pub enum AuthnMode {
    /// Bearer tokens from the issuers of an `AuthenticationConfiguration`.
    Oidc,
    /// None: every request is forwarded as the gateway's own identity.
    None,
}

/// What happens to an identity no owner rule maps.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase")]
#[non_exhaustive]
pub enum Unmapped {
    /// Served, its owner `unmapped` in every record.
    #[default]
    Allow,
    /// Refused with 403.
    Refuse,
}

impl AuthnConfig {
    /// Checks what serde cannot: the files each mode needs, and the
    /// algorithm names. Errors name `authentication.…` fields of `file`.
    ///
    /// # Errors
    /// A [`ConfigError`] naming the field.
    pub fn validate(&self, file: &str) -> Result<(), ConfigError> {
        let err = |field: &str, message: &str| Err(ConfigError::new(file, field, message));
        match self.mode {
            AuthnMode::None if self.config.is_some() || self.owners.is_some() => {
                return err("authentication.mode", "is none, but config or owners are set");
            }
            AuthnMode::Oidc if self.config.is_none() => {
                return err(
                    "authentication.config",
                    "required with mode oidc: the AuthenticationConfiguration file",
                );
            }
            _ => {}
        }
        for (issuer, algs) in &self.algorithms {
            for (i, alg) in algs.iter().enumerate() {
                parse_algorithm(alg).map_err(|e| {
                    ConfigError::new(
                        file,
                        format!("authentication.algorithms[{issuer:?}][{i}]"),
                        format!("{e}: use RS/PS 256/384/512, ES256/384 or EdDSA"),
                    )
                })?;
            }
        }
        Ok(())
    }

    /// Takes relative paths relative to `dir` (the configuration file's).
    pub fn rebase(&mut self, dir: &Path) {
        for p in [self.config.as_mut(), self.owners.as_mut()].into_iter().flatten() {
            tollgate_kube::rebase(p, dir);
        }
    }

    /// Reads the `AuthenticationConfiguration` and the owner rules and
    /// builds the layer; the issuers are contacted now, and those that do
    /// not answer are retried in the background (their tokens get 401
    /// meanwhile).
    ///
    /// # Errors
    /// As [`AuthnConfig::verifier`].
    pub async fn layer(&self, file: &str) -> Result<AuthnLayer, ConfigError> {
        let Some((verifier, anonymous)) = self.verifier(file)? else {
            tracing::warn!("authentication.mode is none: every request is forwarded as the gateway's own identity");
            return Ok(AuthnLayer::disabled());
        };
        let verifier = Arc::new(verifier);
        verifier.start().await;
        Ok(AuthnLayer::new(verifier).allow_anonymous(anonymous))
    }

    /// Reads and checks every file the section names and builds the
    /// verifier without contacting any issuer (`tollgate serve --check`
    /// stops here): `None` for mode `none`; else the verifier and whether
    /// the `AuthenticationConfiguration` allows anonymous requests.
    ///
    /// # Errors
    /// A [`ConfigError`]: a file that cannot be read or is invalid (located
    /// in that file), or `authentication.algorithms` naming an issuer the
    /// `AuthenticationConfiguration` does not have.
    pub fn verifier(&self, file: &str) -> Result<Option<(Verifier, bool)>, ConfigError> {
        let Some(path) = self.config.as_ref().filter(|_| self.mode == AuthnMode::Oidc) else {
            return Ok(None);
        };
        let read = |p: &Path| tollgate_kube::files::read_config_text(p).map_err(|e| ConfigError::unreadable(p, &e));
        let source = path.display().to_string();
        let mut authn = parse_authentication_configuration(&read(path)?, &source)?;
        for (issuer, algs) in &self.algorithms {
            let Some(j) = authn.jwt.iter_mut().find(|j| &j.url == issuer) else {
                return Err(ConfigError::new(
                    file,
                    format!("authentication.algorithms[{issuer:?}]"),
                    format!("no issuer {issuer:?} in {source}"),
                ));
            };
            j.algorithms = algs.iter().filter_map(|x| parse_algorithm(x).ok()).collect();
        }
        let owners = match &self.owners {
            Some(p) => OwnerMapper::parse(&read(p)?, &p.display().to_string())?,
            None => OwnerMapper::default(),
        };
        let mut builder = Verifier::builder()
            .source_name(source)
            .owners(owners)
            .refuse_unmapped(self.unmapped == Unmapped::Refuse)
            .nbf_leeway(Duration::from_secs(self.nbf_leeway_seconds));
        for j in authn.jwt.drain(..) {
            builder = builder.issuer(j);
        }
        Ok(Some((builder.build()?, authn.anonymous)))
    }
}
