//! [`SoapClient`]: `cp_actors::ChargePointApi` over ChargePoint's SOAP 5.0 endpoint (or the
//! simulator). One client talks for one account. It pages through every list, checks writes
//! before sending them, and leaves retrying to the caller (the gateway).

use std::fmt;
use std::time::Duration;

use async_trait::async_trait;
use cp_actors::{
    AlarmQuery, ChargePointApi, ClearAlarmsQuery, ClearShedAck, ClearShedRequest, LoadQuery,
    RightsQuery, SessionQuery, ShedAck, ShedRequest, SoapError, StationsQuery, StatusQuery,
};
use cp_registry::{
    Alarm, ApiMethod, ChargingSession, LoadReport, Secret, StationInfo, StationRights,
    StationStatus,
};
use reqwest::Url;

use super::codec::{read_response, write_request};
use super::envelope::UsernameToken;
use super::ops::{check_clear, check_shed, merge_by_station, Request, Response};
use super::transport::Transport;

/// Deadline for one whole call (connect, send, read the answer). Large getStations pages from
/// the live service take seconds; 30 s is what public clients of the service allow.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(30);
/// Deadline for the TCP and TLS connection alone.
pub const DEFAULT_CONNECT_TIMEOUT: Duration = Duration::from_secs(10);
/// Station IDs per getStationStatus call: no maximum is documented (a public client sends 50);
/// 500 is getStations' page, so an account of N stations costs N/500 calls for either.
pub const DEFAULT_STATUS_PAGE_SIZE: usize = 500;
/// getStations returns at most 500 stations per call (SERVICE-FACTS).
pub const STATIONS_PAGE_SIZE: i32 = 500;
/// Alarms asked for per getAlarms call; no maximum is documented, so getStations' 500: a whole
/// account's alarms are read in one paged call, and a page of 100 made it five times the calls.
pub const ALARMS_PAGE_SIZE: i32 = 500;
/// The most pages one list call follows. 1,000 pages of 500 stations is far beyond any real
/// account, so a server still saying `moreFlag=1` by then is broken and must not keep us looping.
pub const MAX_PAGES: usize = 1000;

/// The `code` of an [`SoapError::InvalidInput`] the client raises itself, without a call.
pub const CLIENT_REJECTED_CODE: &str = "client";

/// Everything a [`SoapClient`] needs. `Debug` shows the password as `***`.
#[derive(Debug, Clone)]
pub struct ClientConfig {
    /// The service URL, e.g. `https://webservices.chargepoint.com/webservices/chargepoint/services/5.0`.
    pub endpoint: String,
    pub username: String,
    pub password: Secret,
    /// Deadline for one whole call.
    pub timeout: Duration,
    /// Deadline for connecting.
    pub connect_timeout: Duration,
    /// Station IDs per getStationStatus call.
    pub status_page_size: usize,
}

impl ClientConfig {
    /// A configuration with the default deadlines and page size.
    pub fn new(endpoint: impl Into<String>, username: impl Into<String>, password: Secret) -> Self {
        ClientConfig {
            endpoint: endpoint.into(),
            username: username.into(),
            password,
            timeout: DEFAULT_TIMEOUT,
            connect_timeout: DEFAULT_CONNECT_TIMEOUT,
            status_page_size: DEFAULT_STATUS_PAGE_SIZE,
        }
    }
}

/// Why a [`SoapClient`] could not be built.
#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    /// The endpoint is not an http(s) URL. The text is not repeated: it may hold credentials.
    #[error("invalid ChargePoint endpoint: {reason}")]
    InvalidEndpoint { reason: String },
    /// A page size or deadline that cannot work.
    #[error("invalid client setting {setting}: {reason}")]
    InvalidSetting {
        setting: &'static str,
        reason: String,
    },
    /// The HTTP client could not be set up (TLS backend).
    #[error("cannot set up the HTTP client")]
    Http(#[source] reqwest::Error),
}

/// The ChargePoint API over SOAP, for one account.
#[derive(Clone)]
pub struct SoapClient {
    transport: Transport,
    token: UsernameToken,
    status_page_size: usize,
}

impl fmt::Debug for SoapClient {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SoapClient")
            .field("username", &self.token.username)
            .field("status_page_size", &self.status_page_size)
            .finish_non_exhaustive()
    }
}

impl SoapClient {
    /// # Errors
    /// [`ClientError`] for an unusable endpoint, page size or deadline, or a TLS setup failure.
    pub fn new(config: ClientConfig) -> Result<Self, ClientError> {
        let endpoint = Url::parse(&config.endpoint).map_err(|e| ClientError::InvalidEndpoint {
            reason: e.to_string(),
        })?;
        if !matches!(endpoint.scheme(), "http" | "https") {
            return Err(ClientError::InvalidEndpoint {
                reason: format!("scheme {} is not http or https", endpoint.scheme()),
            });
        }
        if config.status_page_size == 0 || i32::try_from(config.status_page_size).is_err() {
            return Err(ClientError::InvalidSetting {
                setting: "status_page_size",
                reason: format!("{} is not between 1 and 2^31-1", config.status_page_size),
            });
        }
        for (setting, value) in [
            ("timeout", config.timeout),
            ("connect_timeout", config.connect_timeout),
        ] {
            if value.is_zero() {
                return Err(ClientError::InvalidSetting {
                    setting,
                    reason: "must be longer than zero".into(),
                });
            }
        }
        let transport = Transport::new(endpoint, config.timeout, config.connect_timeout)
            .map_err(ClientError::Http)?;
        Ok(SoapClient {
            transport,
            token: UsernameToken {
                username: config.username,
                password: config.password,
            },
            status_page_size: config.status_page_size,
        })
    }

    /// One request: write, post, read, interpret `responseCode`. A list call makes several
    /// (its pages, or its parts of a long station list); under a gateway each after the first
    /// waits for the account's rate, as a call of its own would ([`cp_actors::pace_request`]).
    async fn call(&self, request: &Request) -> Result<Response, SoapError> {
        cp_actors::pace_request().await;
        let method = request.method();
        let envelope = write_request(request, &self.token);
        let body = self.transport.post(method, envelope).await?;
        let response = read_response(method, &body);
        tracing::debug!(op = %method, bytes = body.len(), ok = response.is_ok(), "soap call");
        response
    }

    /// Follows `moreFlag` from `startRecord` 1: `page(start)` builds each request, `split`
    /// takes a page apart into its items, its record count and its more flag.
    async fn all_pages<T>(
        &self,
        method: ApiMethod,
        page: impl Fn(i64) -> Result<Request, SoapError>,
        split: impl Fn(Response) -> Option<(Vec<T>, usize, bool)>,
    ) -> Result<Vec<T>, SoapError> {
        let mut items = Vec::new();
        let mut start: i64 = 1;
        for _ in 0..MAX_PAGES {
            let response = self.call(&page(start)?).await?;
            let (page_items, records, more) =
                split(response).ok_or_else(|| SoapError::Malformed {
                    op: method,
                    detail: "answer is for another operation".into(),
                })?;
            items.extend(page_items);
            if !more {
                return Ok(items);
            }
            if records == 0 {
                return Err(SoapError::Malformed {
                    op: method,
                    detail: "moreFlag is 1 on a page without records".into(),
                });
            }
            start += records as i64;
        }
        Err(SoapError::Malformed {
            op: method,
            detail: format!("moreFlag still 1 after {MAX_PAGES} pages"),
        })
    }
}

/// `startRecord` for the operations whose schema makes it an xsd:int.
fn start_i32(op: ApiMethod, start: i64) -> Result<i32, SoapError> {
    i32::try_from(start).map_err(|_| SoapError::Malformed {
        op,
        detail: format!("paging went past record {}", i32::MAX),
    })
}

fn rejected(op: ApiMethod, text: String) -> SoapError {
    SoapError::InvalidInput {
        op,
        code: CLIENT_REJECTED_CODE.to_string(),
        text,
    }
}

#[async_trait]
impl ChargePointApi for SoapClient {
    async fn get_station_status(
        &self,
        query: &StatusQuery,
    ) -> Result<Vec<StationStatus>, SoapError> {
        const OP: ApiMethod = ApiMethod::GetStationStatus;
        let split = |r| match r {
            Response::GetStationStatus { stations, more, .. } => {
                let n = stations.len();
                Some((stations, n, more))
            }
            _ => None,
        };
        // Checked in `new`: the page size fits an i32.
        let page_size = self.status_page_size as i32;
        if query.station_ids.is_empty() {
            return self
                .all_pages(
                    OP,
                    |start| {
                        Ok(Request::GetStationStatus {
                            query: StatusQuery::default(),
                            start_record: Some(start_i32(OP, start)?),
                            num_stations: Some(page_size),
                        })
                    },
                    split,
                )
                .await;
        }
        let mut stations = Vec::with_capacity(query.station_ids.len());
        for chunk in query.station_ids.chunks(self.status_page_size) {
            let chunk_query = StatusQuery {
                station_ids: chunk.to_vec(),
            };
            let page = |start| {
                Ok(Request::GetStationStatus {
                    query: chunk_query.clone(),
                    start_record: Some(start_i32(OP, start)?),
                    num_stations: Some(chunk.len() as i32),
                })
            };
            stations.extend(self.all_pages(OP, page, split).await?);
        }
        Ok(stations)
    }

    async fn get_load(&self, query: &LoadQuery) -> Result<LoadReport, SoapError> {
        match self.call(&Request::GetLoad(query.clone())).await? {
            Response::GetLoad { report, .. } => Ok(report),
            _ => Err(SoapError::Malformed {
                op: ApiMethod::GetLoad,
                detail: "answer is for another operation".into(),
            }),
        }
    }

    async fn get_alarms(&self, query: &AlarmQuery) -> Result<Vec<Alarm>, SoapError> {
        const OP: ApiMethod = ApiMethod::GetAlarms;
        self.all_pages(
            OP,
            |start| {
                Ok(Request::GetAlarms {
                    query: query.clone(),
                    start_record: Some(start_i32(OP, start)?),
                    num_transactions: Some(ALARMS_PAGE_SIZE),
                })
            },
            |r| match r {
                Response::GetAlarms { alarms, more, .. } => {
                    let n = alarms.len();
                    Some((alarms, n, more))
                }
                _ => None,
            },
        )
        .await
    }

    async fn clear_alarms(&self, query: &ClearAlarmsQuery) -> Result<(), SoapError> {
        self.call(&Request::ClearAlarms(query.clone())).await?;
        Ok(())
    }

    async fn get_station_rights(
        &self,
        query: &RightsQuery,
    ) -> Result<Vec<StationRights>, SoapError> {
        let entries = self
            .all_pages(
                ApiMethod::GetStationRights,
                |start| {
                    Ok(Request::GetStationRights {
                        query: query.clone(),
                        start_record: Some(start),
                    })
                },
                |r| match r {
                    Response::GetStationRights { rights, more, .. } => {
                        // A record is one (station, profile) pair: one rightsData entry.
                        let n = rights.iter().map(|s| s.profiles.len()).sum();
                        Some((rights, n, more))
                    }
                    _ => None,
                },
            )
            .await?;
        Ok(merge_by_station(entries))
    }

    async fn get_charging_sessions(
        &self,
        query: &SessionQuery,
    ) -> Result<Vec<ChargingSession>, SoapError> {
        self.all_pages(
            ApiMethod::GetChargingSessionData,
            |start| {
                Ok(Request::GetChargingSessionData {
                    query: query.clone(),
                    start_record: Some(start),
                })
            },
            |r| match r {
                Response::GetChargingSessionData { sessions, more, .. } => {
                    let n = sessions.len();
                    Some((sessions, n, more))
                }
                _ => None,
            },
        )
        .await
    }

    async fn get_stations(&self, query: &StationsQuery) -> Result<Vec<StationInfo>, SoapError> {
        const OP: ApiMethod = ApiMethod::GetStations;
        self.all_pages(
            OP,
            |start| {
                Ok(Request::GetStations {
                    query: query.clone(),
                    start_record: Some(start_i32(OP, start)?),
                    num_stations: Some(STATIONS_PAGE_SIZE),
                })
            },
            |r| match r {
                Response::GetStations { stations, more, .. } => {
                    let n = stations.len();
                    Some((stations, n, more))
                }
                _ => None,
            },
        )
        .await
    }

    async fn shed_load(&self, request: &ShedRequest) -> Result<ShedAck, SoapError> {
        check_shed(request).map_err(|text| rejected(ApiMethod::ShedLoad, text))?;
        match self.call(&Request::ShedLoad(request.clone())).await? {
            Response::ShedLoad { ack, .. } => Ok(ack),
            _ => Err(SoapError::Malformed {
                op: ApiMethod::ShedLoad,
                detail: "answer is for another operation".into(),
            }),
        }
    }

    async fn clear_shed_state(
        &self,
        request: &ClearShedRequest,
    ) -> Result<ClearShedAck, SoapError> {
        check_clear(request).map_err(|text| rejected(ApiMethod::ClearShedState, text))?;
        match self.call(&Request::ClearShedState(request.clone())).await? {
            Response::ClearShedState { ack, .. } => Ok(ack),
            _ => Err(SoapError::Malformed {
                op: ApiMethod::ClearShedState,
                detail: "answer is for another operation".into(),
            }),
        }
    }
}
