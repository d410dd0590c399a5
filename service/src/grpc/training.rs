//! `statecast.v1.TrainingService`: thin handlers over [`crate::jobs::JobManager`].
mod convert;

pub use convert::dataset_source;

use statecast_proto::v1 as pb;
use statecast_proto::v1::training_service_server::TrainingService;
use tokio_stream::wrappers::ReceiverStream;
use tonic::{Request, Response, Status};

use super::blocking;
use crate::jobs::{JobManager, JobWatch};

/// Default and largest `ListJobs` page.
const PAGE_SIZE: (usize, usize) = (50, 1000);

/// Serves training jobs.
#[derive(Debug, Clone)]
pub struct TrainingServiceImpl {
    jobs: JobManager,
}

impl TrainingServiceImpl {
    /// A service over `jobs`.
    pub fn new(jobs: JobManager) -> Self {
        Self { jobs }
    }
}

#[tonic::async_trait]
impl TrainingService for TrainingServiceImpl {
    async fn submit_job(
        &self,
        request: Request<pb::SubmitJobRequest>,
    ) -> Result<Response<pb::SubmitJobResponse>, Status> {
        let submission = convert::submission(request.into_inner())?;
        let jobs = self.jobs.clone();
        let job = blocking(move || jobs.submit(&jobs.validate(&submission)?)).await?;
        Ok(Response::new(pb::SubmitJobResponse {
            job: Some(job.into()),
        }))
    }

    async fn get_job(
        &self,
        request: Request<pb::GetJobRequest>,
    ) -> Result<Response<pb::GetJobResponse>, Status> {
        let pb::GetJobRequest { id } = request.into_inner();
        let id = convert::job_id(&id)?;
        let jobs = self.jobs.clone();
        let job = blocking(move || jobs.get(id)).await?;
        Ok(Response::new(pb::GetJobResponse {
            job: Some(job.into()),
        }))
    }

    async fn list_jobs(
        &self,
        request: Request<pb::ListJobsRequest>,
    ) -> Result<Response<pb::ListJobsResponse>, Status> {
        let pb::ListJobsRequest {
            states,
            page_size,
            page_token,
        } = request.into_inner();
        let states = convert::states(&states)?;
        let size = match page_size as usize {
            0 => PAGE_SIZE.0,
            n => n.min(PAGE_SIZE.1),
        };
        let before = if page_token.is_empty() {
            None
        } else {
            Some(
                page_token
                    .parse::<i64>()
                    .map_err(|_| crate::Error::InvalidArgument {
                        field: "page_token".into(),
                        reason: format!("`{page_token}` is not a token from ListJobs"),
                    })?,
            )
        };
        let jobs = self.jobs.clone();
        let page = blocking(move || jobs.list(&states, size, before)).await?;
        Ok(Response::new(pb::ListJobsResponse {
            jobs: page.jobs.into_iter().map(Into::into).collect(),
            next_page_token: page.next.map(|n| n.to_string()).unwrap_or_default(),
        }))
    }

    async fn cancel_job(
        &self,
        request: Request<pb::CancelJobRequest>,
    ) -> Result<Response<pb::CancelJobResponse>, Status> {
        let pb::CancelJobRequest { id } = request.into_inner();
        let id = convert::job_id(&id)?;
        let jobs = self.jobs.clone();
        let job = blocking(move || jobs.cancel(id)).await?;
        Ok(Response::new(pb::CancelJobResponse {
            job: Some(job.into()),
        }))
    }

    type WatchJobStream = ReceiverStream<Result<pb::JobProgress, Status>>;

    async fn watch_job(
        &self,
        request: Request<pb::WatchJobRequest>,
    ) -> Result<Response<Self::WatchJobStream>, Status> {
        let pb::WatchJobRequest { id } = request.into_inner();
        let id = convert::job_id(&id)?;
        let jobs = self.jobs.clone();
        let watch = blocking(move || jobs.watch(id)).await?;
        let (tx, rx) = tokio::sync::mpsc::channel(16);
        tokio::spawn(async move {
            let mut progress = match watch {
                JobWatch::Finished(p) => {
                    let _ = tx.send(Ok(p.into())).await;
                    return;
                }
                JobWatch::Live(rx) => rx,
            };
            loop {
                let current = progress.borrow_and_update().clone();
                let done = current.state.is_terminal();
                if tx.send(Ok(current.into())).await.is_err() || done {
                    return; // the client went away, or the job ended
                }
                if progress.changed().await.is_err() {
                    // The channel closed: its last value is the terminal state.
                    let last = progress.borrow().clone();
                    let _ = tx.send(Ok(last.into())).await;
                    return;
                }
            }
        });
        Ok(Response::new(ReceiverStream::new(rx)))
    }
}
