import Foundation
import Logging
import MeshFarmJobs
import MeshFarmMessaging
import MeshFarmStorage

extension Coordinator {
    /// The command loop's state: active jobs, touched by the loop only.
    struct Loop {
        let coordinator: Coordinator
        var active: [String: JobRecord] = [:]

        init(coordinator: Coordinator) { self.coordinator = coordinator }

        var logger: Logger { coordinator.logger }
        var policy: RetryPolicy { coordinator.configuration.retryPolicy }

        /// After a restart: republish what was queued but never confirmed,
        /// queue what became ready, re-arm retry timers.
        mutating func resume() async {
            let jobs: [JobRecord]
            do { jobs = try await coordinator.store.activeJobs() } catch {
                logger.error("cannot load active jobs", metadata: ["error": "\(error)"])
                return
            }
            for var job in jobs {
                var actions = job.unpublishedTasks.map { JobAction.publish(taskID: $0.id, attempt: $0.attempt) }
                actions += job.start(now: Date())
                actions += job.pendingRetries.map { JobAction.scheduleRetry(taskID: $0.0, at: $0.1) }
                if !actions.isEmpty {
                    logger.info("resuming job", metadata: ["job": "\(job.id)", "actions": "\(actions.count)"])
                }
                await commit(&job, actions)
            }
        }

        mutating func handle(_ command: Coordinator.Command) async {
            switch command {
            case .submit(var job, let reply):
                do {
                    try await coordinator.store.insert(job)
                } catch {
                    reply.resume(throwing: error)
                    return
                }
                logger.info("job submitted", metadata: ["job": "\(job.id)", "tasks": "\(job.tasks.count)"])
                let actions = job.start(now: Date())
                await commit(&job, actions)
                reply.resume(returning: job)

            case .cancel(let id, let reply):
                do {
                    guard var job = try await load(id) else {
                        reply.resume(returning: nil)
                        return
                    }
                    let actions = job.cancel(now: Date())
                    await commit(&job, actions)
                    reply.resume(returning: job)
                } catch {
                    reply.resume(throwing: error)
                }

            case .event(let delivery):
                await handleEvent(delivery)

            case .deadLetter(let delivery):
                await handleDeadLetter(delivery)

            case .retryDue(let jobID, let taskID):
                guard var job = try? await load(jobID) else { return }
                let actions = job.retryDue(taskID, now: Date())
                await commit(&job, actions)
            }
        }

        private mutating func handleEvent(_ delivery: Delivery) async {
            let event: TaskEvent
            do { event = try MessageCoding.decodeEvent(delivery.message.body) } catch {
                logger.error("dropping an unreadable event", metadata: ["error": "\(error)"])
                try? await delivery.ack()
                return
            }
            do {
                guard var job = try await load(event.jobID) else {
                    logger.warning(
                        "event for an unknown job", metadata: ["job": "\(event.jobID)", "task": "\(event.taskID)"])
                    try? await delivery.ack()
                    return
                }
                coordinator.sighted(event, pool: job.task(event.taskID)?.task.pool ?? "?")
                let before = job
                let actions = job.apply(event, now: Date(), policy: policy)
                if job != before || !actions.isEmpty { await commit(&job, actions) }
                try? await delivery.ack()
            } catch {
                // Not stored: leave the event to the broker, which redelivers it.
                logger.error("cannot apply an event; it will be redelivered", metadata: ["error": "\(error)"])
                try? await delivery.requeue()
            }
        }

        private mutating func handleDeadLetter(_ delivery: Delivery) async {
            guard let task = try? MessageCoding.decodeTask(delivery.message.body) else {
                logger.error(
                    "dead letter that is not a task", metadata: ["messageID": "\(delivery.message.messageID ?? "-")"])
                try? await delivery.ack()
                return
            }
            let reason: String
            switch delivery.message.headers["x-first-death-reason"]?.stringValue {
            case "delivery_limit":
                reason =
                    "the task was delivered \(coordinator.configuration.farm.deliveryLimit + 1) times and its worker died or overran its time limit each time"
            case "rejected": reason = "no worker could read the task message"
            case let other: reason = "the broker dead-lettered the task (\(other ?? "unknown reason"))"
            }
            do {
                if var job = try await load(task.jobID) {
                    logger.error("task dead-lettered", metadata: ["task": "\(task.taskID)", "reason": "\(reason)"])
                    let actions = job.deadLettered(task.taskID, attempt: task.attempt, reason: reason, now: Date())
                    await commit(&job, actions)
                }
                try? await delivery.ack()
            } catch {
                try? await delivery.requeue()
            }
        }

        /// The active copy, or the stored one.
        private mutating func load(_ id: String) async throws -> JobRecord? {
            if let job = active[id] { return job }
            return try await coordinator.store.job(id)
        }

        /// Stores the job, performs the actions (publications store again
        /// once confirmed), publishes the snapshot.
        private mutating func commit(_ job: inout JobRecord, _ actions: [JobAction]) async {
            await save(job)
            for action in actions {
                switch action {
                case .publish(let taskID, let attempt):
                    await publish(&job, taskID, attempt)
                case .scheduleRetry(let taskID, let at):
                    logger.info("retrying later", metadata: ["task": "\(taskID)", "at": "\(at)"])
                    coordinator.schedule(job.id, taskID, at: at)
                case .finished(let status):
                    logger.info(
                        "job finished",
                        metadata: ["job": "\(job.id)", "status": "\(status)", "error": "\(job.error ?? "-")"])
                }
            }
            if job.status.isTerminal { active[job.id] = nil } else { active[job.id] = job }
            coordinator.publishSnapshot(job)
        }

        private mutating func publish(_ job: inout JobRecord, _ taskID: String, _ attempt: Int) async {
            let farm = coordinator.configuration.farm
            guard let planned = job.task(taskID)?.task else { return }
            do {
                let envelope = TaskEnvelope(
                    taskID: taskID, attempt: attempt, kind: planned.kind.rawValue, pool: planned.pool, jobID: job.id,
                    payload: try job.payload(for: taskID), traceID: job.traceID)
                try await coordinator.transport.publish(
                    OutgoingMessage(
                        exchange: farm.tasksExchange, routingKey: envelope.routingKey, body: envelope.jsonData(),
                        messageID: envelope.messageID))
                job.markPublished(taskID, attempt: attempt)
                await save(job)
            } catch {
                logger.error("cannot publish a task", metadata: ["task": "\(taskID)", "error": "\(error)"])
                _ = job.deadLettered(taskID, attempt: attempt, reason: "could not be published: \(error)", now: Date())
                await save(job)
            }
        }

        private func save(_ job: JobRecord) async {
            do { try await coordinator.store.save(job) } catch {
                logger.error("cannot store job", metadata: ["job": "\(job.id)", "error": "\(error)"])
            }
        }
    }
}
