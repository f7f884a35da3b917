import Foundation
import Logging
import MeshFarmArtifacts
import MeshFarmJobs
import MeshFarmMessaging
import Metrics

extension Coordinator {
    /// The command loop's state: active jobs, touched by the loop only.
    /// It owns its dependencies and reaches nothing of the `Coordinator`
    /// that runs it: it writes jobs to the store, publishes tasks, posts
    /// timers to the mailbox and shows its results through the ``FarmView``.
    struct Loop {
        let store: any JobStore
        let transport: any MessageTransport
        let configuration: Configuration
        let logger: Logger
        let view: FarmView
        let timers: Timers
        /// Where finished jobs with a callback go (``Coordinator/notices``).
        let finishing: AsyncStream<JobRecord>.Continuation
        var active: [String: JobRecord] = [:]
        /// Each active job as the store last wrote it: a save writes only
        /// what changed since (a task's event rewrites that task's row).
        var stored: [String: JobRecord] = [:]
        /// Consecutive store failures and the pause after the last one.
        /// When the loop last heard of each task with the broker (its
        /// publication confirmed, or an event), for the ``Reconciler``;
        /// tasks not heard of since the loop started count from `since`.
        var heard: [TaskID: Date] = [:]
        var since = Date()
        var lastReconcile = Date()
        var lastEvent = Date()
        /// Finished (cancelled or failed) jobs that still have tasks with the
        /// broker: announced to the workers, which stop those tasks, every
        /// ``announceInterval`` until none is left.
        var abandoning: Set<String> = []
        /// Deleted jobs that had tasks with the broker, announced as
        /// cancelled until the given time (a worker's memory and more), so
        /// that their leftover tasks are skipped, not run.
        var deletedAbandoning: [String: Date] = [:]
        var announcing = false
        /// What operators asked of workers: drained (true) or taking tasks.
        var drainWanted: [String: Bool] = [:]
        /// Why runnable tasks are held (``Configuration/holdDispatch``), as
        /// last seen.
        var held: String?
        var storeHealth = StoreHealth()
        var storePause: Double = 0
        let storeErrors = Counter(label: "meshfarm_store_errors_total")
        let storeFailing = Gauge(label: "meshfarm_store_consecutive_failures")

        var policy: RetryPolicy { configuration.retryPolicy }

        /// After a restart: republish what was queued but never confirmed,
        /// mark ready what became runnable, re-arm retry timers, dispatch.
        mutating func resume() async {
            let jobs: [JobRecord]
            do { jobs = try await store.activeJobs() } catch {
                logger.error("cannot load active jobs", metadata: ["error": "\(error)"])
                return
            }
            for var job in jobs {
                stored[job.id] = job
                job.start(now: Date())
                var actions = job.unpublishedTasks.map { JobAction.publish(taskID: $0.id, attempt: $0.attempt) }
                actions += job.pendingRetries.map { JobAction.scheduleRetry(taskID: $0.0, at: $0.1) }
                if !actions.isEmpty {
                    logger.info("resuming job", metadata: ["job": "\(job.id)", "actions": "\(actions.count)"])
                }
                do { try await commit(&job, actions) } catch {
                    logger.error("cannot resume job", metadata: ["job": "\(job.id)", "error": "\(error)"])
                }
            }
            await dispatch()
            await resumeAnnouncements()
            await resumeNotices()
            since = Date()
            lastReconcile = since
            lastEvent = since
            timers.schedule(.reconcile, at: Date().addingTimeInterval(configuration.reconciler.interval))
        }

        /// Handles one command, then publishes whatever ready work now fits
        /// (`submit` and `cancel` dispatch before they reply, so the caller
        /// sees the job as dispatched).
        mutating func handle(_ command: Coordinator.Command) async {
            await perform(command)
            await dispatch()
        }

        /// Publishes the ready tasks `Dispatcher` picks, in its order, one
        /// job's picks per store write.
        private mutating func dispatch() async {
            let hold = configuration.holdDispatch()
            if hold != held {
                if let hold {
                    logger.warning("holding runnable tasks", metadata: ["reason": "\(hold)"])
                } else {
                    logger.info("releasing held tasks")
                }
                held = hold
            }
            guard hold == nil else {
                view.publishLoads(Dispatcher.loads(active.values))
                return
            }
            let picks = Dispatcher.picks(active.values, policy: configuration.dispatchPolicy)
            var order: [String] = []
            var byJob: [String: [TaskID]] = [:]
            for pick in picks {
                if byJob[pick.job] == nil { order.append(pick.job) }
                byJob[pick.job, default: []].append(pick.task)
            }
            for jobID in order {
                guard var job = active[jobID] else { continue }
                let actions = byJob[jobID, default: []].compactMap { job.dispatch($0) }
                do { try await commit(&job, actions) } catch {
                    // Not stored, not published: the tasks are still ready in
                    // the store. Load the job again shortly so they are not
                    // forgotten.
                    timers.schedule(.reload(job: jobID), at: Date().addingTimeInterval(5))
                }
            }
            view.publishLoads(Dispatcher.loads(active.values))
        }

        private mutating func perform(_ command: Coordinator.Command) async {
            switch command {
            case .submit(var job, let claim, let maxUnfinished, let ticket, let reply):
                guard ticket.take() else {
                    logger.info("dropping a submission its caller gave up on", metadata: ["job": "\(job.id)"])
                    return
                }
                do {
                    let now = Date()
                    if let claim, let earlier = try await store.idempotencyRecord(claim.key, now: now) {
                        guard earlier.requestSHA256 == claim.requestSHA256 else {
                            throw IdempotencyConflict(key: claim.key, jobID: earlier.jobID)
                        }
                        guard let job = try await load(earlier.jobID) else {
                            throw StorageError.io("job \(earlier.jobID) of key \(claim.key) is gone")
                        }
                        logger.info("job submitted again with its idempotency key", metadata: ["job": "\(job.id)"])
                        return reply.resume(returning: Submitted(job: job, replayed: true))
                    }
                    if let maxUnfinished, let owner = job.owner {
                        let unfinished = active.values.count { $0.owner == owner }
                        guard unfinished < maxUnfinished else {
                            return reply.resume(
                                throwing: QuotaExceeded(owner: owner, unfinished: unfinished, limit: maxUnfinished))
                        }
                    }
                    try await store.insert(
                        job,
                        idempotency: claim.map {
                            IdempotencyRecord(
                                key: $0.key, requestSHA256: $0.requestSHA256, jobID: job.id, createdAt: now)
                        })
                    stored[job.id] = job
                    logger.info("job submitted", metadata: ["job": "\(job.id)", "tasks": "\(job.tasks.count)"])
                    job.start(now: Date())
                    try await commit(&job, [])
                    await dispatch()
                    reply.resume(returning: Submitted(job: active[job.id] ?? job, replayed: false))
                } catch {
                    // Stored but not started (a failed write after the
                    // insert): start it from the store shortly, so that a
                    // job the store holds, and that a retry with the same
                    // idempotency key finds, is not left behind.
                    timers.schedule(.reload(job: job.id), at: Date().addingTimeInterval(5))
                    reply.resume(throwing: error)
                }

            case .cancel(let id, let reply):
                do {
                    guard var job = try await load(id) else {
                        reply.resume(returning: nil)
                        return
                    }
                    let actions = job.cancel(now: Date())
                    try await commit(&job, actions)
                    await dispatch()
                    reply.resume(returning: job)
                } catch {
                    reply.resume(throwing: error)
                }

            case .retry(let id, let maxUnfinished, let reply):
                do {
                    guard var job = try await load(id) else { return reply.resume(returning: nil) }
                    if let maxUnfinished, let owner = job.owner, job.status.isTerminal {
                        let unfinished = active.values.count { $0.owner == owner }
                        guard unfinished < maxUnfinished else {
                            throw QuotaExceeded(owner: owner, unfinished: unfinished, limit: maxUnfinished)
                        }
                    }
                    try job.retry(now: Date())
                    try await commit(&job, [])
                    abandoning.remove(id)
                    logger.info("job retried", metadata: ["job": "\(id)"])
                    do {
                        transport.publishInBackground(
                            try ControlMessage(cancelledJobs: announced, resumedJobs: [id]).message(
                                exchange: configuration.farm.controlExchange))
                    } catch {
                        logger.error("cannot encode a control message", metadata: ["error": "\(error)"])
                    }
                    await dispatch()
                    reply.resume(returning: active[id] ?? job)
                } catch {
                    reply.resume(throwing: error)
                }

            case .reprioritize(let id, let priority, let reply):
                do {
                    guard var job = try await load(id) else { return reply.resume(returning: nil) }
                    job.spec.priority = priority
                    try await commit(&job, [])
                    reply.resume(returning: job)
                } catch {
                    reply.resume(throwing: error)
                }

            case .delete(let id, let reply):
                do {
                    guard let job = try await load(id) else { return reply.resume(returning: .notFound) }
                    guard job.status.isTerminal else { return reply.resume(returning: .unfinished(job.status)) }
                    guard try await store.delete(id) else { return reply.resume(returning: .notFound) }
                    if abandoning.remove(id) != nil || job.tasks.contains(where: \.isWithBroker) {
                        deletedAbandoning[id] = Date().addingTimeInterval(900)
                        await announceCancellations()
                    }
                    view.publishDeleted(id)
                    logger.info("job deleted", metadata: ["job": "\(id)"])
                    reply.resume(returning: .deleted(job))
                } catch {
                    reply.resume(throwing: error)
                }

            case .event(let delivery):
                await handleEvent(delivery)

            case .deadLetter(let delivery):
                await handleDeadLetter(delivery)

            case .retryDue(let jobID, let taskID):
                do {
                    guard var job = try await load(jobID) else { return }
                    job.retryDue(taskID, now: Date())
                    try await commit(&job, [])
                } catch {
                    logger.error(
                        "cannot retry a task; trying again shortly",
                        metadata: ["task": "\(taskID)", "error": "\(error)"])
                    timers.schedule(jobID, taskID, at: Date().addingTimeInterval(5))
                }

            case .reload(let jobID):
                do {
                    guard var job = try await load(jobID), !job.status.isTerminal else { return }
                    job.start(now: Date())  // as at a restart: marks ready what is runnable
                    try await commit(&job, [])
                } catch {
                    timers.schedule(.reload(job: jobID), at: Date().addingTimeInterval(5))
                }

            case .announceCancellations:
                announcing = false
                await announceCancellations()

            case .notified(let id, let date):
                do {
                    // A job retried since its notice was sent waits for its next end.
                    guard var job = try await load(id), job.status.isTerminal else { return }
                    job.notifiedAt = date
                    try await commit(&job, [])
                } catch {
                    logger.error("cannot record a notice", metadata: ["job": "\(id)", "error": "\(error)"])
                }

            case .drain(let worker, let draining):
                drainWanted[worker] = draining
                logger.info(draining ? "draining a worker" : "resuming a worker", metadata: ["worker": "\(worker)"])
                tellWorker(worker, drain: draining)

            case .reconcile:
                await reconcile()
                timers.schedule(.reconcile, at: Date().addingTimeInterval(configuration.reconciler.interval))

            case .published(let jobID, let taskID, let attempt, let tries, let error):
                await published(jobID, taskID, attempt, tries: tries, error: error)

            case .republish(let jobID, let taskID, let attempt, let tries):
                guard var job = try? await load(jobID), !job.status.isTerminal,
                    let task = job.task(taskID), task.attempt == attempt, task.state == .queued, !task.published
                else { return }
                await publish(&job, taskID, attempt, tries: tries)
                active[job.id] = job.status.isTerminal ? nil : job
                if job.status.isTerminal { stored[job.id] = nil }
                view.publishSnapshot(job)
            }
        }

        /// Publishes again what the ``Reconciler`` finds lost. The queues it
        /// needs to see are asked for their depth; a broker that cannot say
        /// makes no queue look empty.
        private mutating func reconcile() async {
            let now = Date()
            let reconciler = configuration.reconciler
            // Silence is only evidence while this side hears the farm: after
            // the loop stalled (a long store or broker wait), or while no
            // event has arrived from any worker although tasks run (the
            // broker or this connection is away), counting starts again.
            let stalled = now.timeIntervalSince(lastReconcile) > 2 * reconciler.interval + 1
            let deaf =
                now.timeIntervalSince(lastEvent) > 2 * reconciler.interval
                && active.values.contains { $0.tasks.contains { $0.state == .running } }
            lastReconcile = now
            if stalled || deaf {
                since = now
                heard = [:]
                lastEvent = now
                return
            }
            // A task first seen here (a job loaded again) counts from now.
            for job in active.values {
                for task in job.tasks where task.isWithBroker && task.published {
                    if heard[task.id] == nil { heard[task.id] = now }
                }
            }
            var empty: Set<String> = []
            for pool in reconciler.poolsToInspect(active.values, heard: heard, since: since, now: now) {
                if await depth(of: configuration.farm.queue(forPool: pool)) == 0 { empty.insert(pool) }
            }
            for lost in reconciler.lostTasks(active.values, heard: heard, since: since, emptyQueues: empty, now: now) {
                guard var job = active[lost.job],
                    let action = job.republishLost(lost.task, now: now, reason: "was lost (\(lost.reason))")
                else { continue }
                logger.warning(
                    "task lost; publishing it again", metadata: ["task": "\(lost.task)", "reason": "\(lost.reason)"])
                heard[lost.task] = now
                do { try await commit(&job, [action]) } catch {
                    timers.schedule(.reload(job: lost.job), at: Date().addingTimeInterval(5))
                }
            }
            // Forget tasks that left the broker.
            let withBroker = Set(
                active.values.flatMap { job in
                    job.tasks.filter(\.isWithBroker).map(\.id)
                })
            heard = heard.filter { withBroker.contains($0.key) }
        }

        static var announceInterval: Double { 2 }

        /// The jobs workers must treat as cancelled: finished ones with tasks
        /// still with the broker, and deleted ones that had such tasks.
        var announced: [String] { abandoning.union(deletedAbandoning.keys).sorted() }

        /// Tells every worker which finished jobs still have tasks with the
        /// broker (queued, or running somewhere), and again shortly while
        /// any do: a worker that missed a message, or that started since,
        /// hears it within the interval. Each such task comes back as a
        /// `cancelled` event (or its result), and the job drops out.
        private mutating func announceCancellations() async {
            for id in abandoning {
                do {
                    let job = try await store.job(id)
                    if job?.tasks.contains(where: \.isWithBroker) != true { abandoning.remove(id) }
                } catch {
                    continue  // the store is away: keep announcing the job
                }
            }
            let now = Date()
            deletedAbandoning = deletedAbandoning.filter { $0.value > now }
            guard !abandoning.isEmpty || !deletedAbandoning.isEmpty else { return }
            do {
                transport.publishInBackground(
                    try ControlMessage(cancelledJobs: announced).message(exchange: configuration.farm.controlExchange))
            } catch {
                logger.error("cannot encode a control message", metadata: ["error": "\(error)"])
            }
            guard !announcing else { return }
            announcing = true
            timers.schedule(.announceCancellations, at: Date().addingTimeInterval(Self.announceInterval))
        }

        /// After a restart: jobs that finished in the last day with a callback
        /// not yet notified go to the notifier again.
        private func resumeNotices() async {
            let recent = Date().addingTimeInterval(-86_400)
            for status in JobStatus.allCases where status.isTerminal {
                guard let jobs = try? await store.jobs(status: status, limit: 500) else { continue }
                for job in jobs
                where job.callback != nil && job.notifiedAt == nil && (job.finishedAt ?? .distantPast) > recent {
                    finishing.yield(job)
                }
            }
        }

        /// After a restart: jobs that finished in the last day with tasks
        /// still with the broker are announced again.
        private mutating func resumeAnnouncements() async {
            let recent = Date().addingTimeInterval(-86_400)
            for status in [JobStatus.cancelled, .failed] {
                guard let jobs = try? await store.jobs(status: status, limit: 500) else { continue }
                for job in jobs
                where (job.finishedAt ?? .distantPast) > recent && job.tasks.contains(where: \.isWithBroker) {
                    abandoning.insert(job.id)
                }
            }
            if !abandoning.isEmpty { await announceCancellations() }
        }

        /// Sends one drain or resume to the workers (with the cancellations).
        private func tellWorker(_ worker: String, drain: Bool) {
            do {
                transport.publishInBackground(
                    try ControlMessage(
                        cancelledJobs: announced, drainWorkers: drain ? [worker] : nil,
                        resumeWorkers: drain ? nil : [worker]
                    ).message(exchange: configuration.farm.controlExchange))
            } catch {
                logger.error("cannot encode a control message", metadata: ["error": "\(error)"])
            }
        }

        /// A worker's report of itself: shown, and answered with what an
        /// operator asked of it when it says otherwise.
        private func handleStatus(_ delivery: Delivery) async {
            try? await delivery.ack()
            guard let status = try? WorkerStatus.decode(delivery.message.body) else {
                logger.error("dropping an unreadable worker status")
                return
            }
            view.reported(status, pool: configuration.farm.pool(ofQueue: status.queue))
            if let wanted = drainWanted[status.worker], wanted != (status.state == .draining) {
                tellWorker(status.worker, drain: wanted)
            }
        }

        private mutating func handleEvent(_ delivery: Delivery) async {
            if delivery.message.routingKey == WorkerStatus.routingKey { return await handleStatus(delivery) }
            let event: JobTaskEvent
            do { event = try MessageCoding.decodeEvent(delivery.message.body, as: JobTaskEvent.self) } catch {
                logger.error("dropping an unreadable event", metadata: ["error": "\(error)"])
                try? await delivery.ack()
                return
            }
            lastEvent = Date()
            if let id = TaskID(event.taskID) { heard[id] = lastEvent }
            do {
                guard var job = try await load(event.jobID) else {
                    logger.warning(
                        "event for an unknown job", metadata: ["job": "\(event.jobID)", "task": "\(event.taskID)"])
                    try? await delivery.ack()
                    return
                }
                view.sighted(event, pool: TaskID(event.taskID)?.kind.pool ?? "?")
                let before = job
                let actions = job.apply(event, now: Date(), policy: policy)
                if job != before || !actions.isEmpty { try await commit(&job, actions) }
                try? await delivery.ack()
            } catch {
                // Not stored: leave the event to the broker, which redelivers
                // it, after the store's backoff (not at once: a hot loop).
                logger.error("cannot apply an event; it will be redelivered", metadata: ["error": "\(error)"])
                await pauseAfterStoreFailure()
                try? await delivery.requeue()
            }
        }

        private mutating func handleDeadLetter(_ delivery: Delivery) async {
            // Read with any payload: a dead letter may be a message no worker could read.
            guard let task = try? MessageCoding.decodeTask(delivery.message.body, as: TaskEnvelope<JSONValue>.self),
                let taskID = TaskID(task.taskID)
            else {
                logger.error(
                    "dead letter that is not a task", metadata: ["messageID": "\(delivery.message.messageID ?? "-")"])
                try? await delivery.ack()
                return
            }
            let reason: String
            switch delivery.message.headers["x-first-death-reason"]?.stringValue {
            case "delivery_limit":
                reason =
                    "the task was delivered \(configuration.farm.deliveryLimit + 1) times and its worker died each time"
            case "rejected": reason = "no worker could read the task message"
            case let other: reason = "the broker dead-lettered the task (\(other ?? "unknown reason"))"
            }
            do {
                if var job = try await load(task.jobID) {
                    logger.error("task dead-lettered", metadata: ["task": "\(task.taskID)", "reason": "\(reason)"])
                    let actions = job.deadLettered(taskID, attempt: task.attempt, reason: reason, now: Date())
                    try await commit(&job, actions)
                }
                try? await delivery.ack()
            } catch {
                await pauseAfterStoreFailure()
                try? await delivery.requeue()
            }
        }

        /// Records a store call's outcome: health (shown by `/readyz`),
        /// metrics, and the pause before the store is tried again.
        private mutating func noteStore(_ error: (any Error)?) {
            if let error {
                storePause = storeHealth.failed(error)
                storeErrors.increment()
            } else if storeHealth.consecutiveFailures > 0 {
                logger.info("the job store works again", metadata: ["failures": "\(storeHealth.consecutiveFailures)"])
                storeHealth.succeeded()
            } else {
                return
            }
            storeFailing.record(storeHealth.consecutiveFailures)
            view.publishStoreProblem(storeHealth.problem)
        }

        /// Leaves the store alone for the backoff of its last failure.
        private mutating func pauseAfterStoreFailure() async {
            guard storeHealth.consecutiveFailures > 0, storePause > 0 else { return }
            try? await Task.sleep(for: .seconds(storePause))
            storePause = 0
        }

        /// The active copy, or the stored one.
        private mutating func load(_ id: String) async throws -> JobRecord? {
            if let job = active[id] { return job }
            let job: JobRecord?
            // A read that works says nothing about writes: only a stored
            // job clears the store's failures (in `save`).
            do { job = try await store.job(id) } catch {
                noteStore(error)
                throw error
            }
            // Remembered only for a job that may still change: a late event
            // for a finished one commits nothing, and would never clear it.
            if let job, !job.status.isTerminal { stored[id] = job }
            return job
        }

        /// Stores the job, then performs the actions (publications store
        /// again once confirmed) and publishes the snapshot. Throws when the
        /// store refuses the job: then nothing was done, and the caller must
        /// not acknowledge what caused the change.
        private mutating func commit(_ job: inout JobRecord, _ actions: [JobAction]) async throws {
            do { try await save(job) } catch {
                active[job.id] = nil  // next time, start again from what is stored
                logger.error("cannot store job", metadata: ["job": "\(job.id)", "error": "\(error)"])
                throw error
            }
            for action in actions {
                switch action {
                case .publish(let taskID, let attempt):
                    // A publish failure may have failed the job: publish no more.
                    guard !job.status.isTerminal else { continue }
                    await publish(&job, taskID, attempt, tries: 0)
                case .scheduleRetry(let taskID, let at):
                    logger.info("retrying later", metadata: ["task": "\(taskID)", "at": "\(at)"])
                    timers.schedule(job.id, taskID, at: at)
                case .finished(let status):
                    logger.info(
                        "job finished",
                        metadata: ["job": "\(job.id)", "status": "\(status)", "error": "\(job.error ?? "-")"])
                }
            }
            active[job.id] = job.status.isTerminal ? nil : job
            if job.status.isTerminal { stored[job.id] = nil }
            view.publishSnapshot(job)
            if job.status.isTerminal, job.tasks.contains(where: \.isWithBroker), abandoning.insert(job.id).inserted {
                await announceCancellations()
            }
            // Once, as the job finishes: a later commit of a finished job
            // (a late event, the notice recorded) has no `finished` action.
            if job.callback != nil, job.notifiedAt == nil,
                actions.contains(where: { if case .finished = $0 { true } else { false } })
            {
                finishing.yield(job)
            }
        }

        /// Writes what changed since the store's version; on failure the
        /// next save writes everything.
        private mutating func save(_ job: JobRecord) async throws {
            do {
                try await store.save(job, since: stored[job.id])
                stored[job.id] = job
                noteStore(nil)
            } catch {
                stored[job.id] = nil
                noteStore(error)
                throw error
            }
        }

        /// Publishes one attempt without waiting for the broker: its confirm
        /// (or refusal) comes back as a `published` command. Until then the
        /// task is queued and unpublished in the store, so a restart
        /// publishes it again; while the broker is away the transport holds
        /// the message and sends it once it is back. The loop never waits,
        /// so submissions, cancels and events go on meanwhile.
        private mutating func publish(_ job: inout JobRecord, _ taskID: TaskID, _ attempt: Int, tries: Int) async {
            let farm = configuration.farm
            guard let planned = job.task(taskID)?.task else { return }
            let message: OutgoingMessage
            do {
                let envelope = JobTask(
                    taskID: taskID.description, attempt: attempt, kind: planned.kind.rawValue, pool: planned.pool,
                    jobID: job.id, payload: try job.payload(for: taskID), traceID: job.traceID)
                message = OutgoingMessage(
                    exchange: farm.tasksExchange, routingKey: envelope.routingKey,
                    body: try MessageCoding.encode(envelope), messageID: envelope.messageID)
            } catch {
                logger.error("cannot build a task message", metadata: ["task": "\(taskID)", "error": "\(error)"])
                _ = job.deadLettered(taskID, attempt: attempt, reason: "internal error: \(error)", now: Date())
                await saveBestEffort(job)
                return
            }
            let (timers, jobID) = (self.timers, job.id)
            transport.publish(message, thenAck: nil) { error in
                timers.now(
                    .published(job: jobID, task: taskID, attempt: attempt, tries: tries, error: error.map { "\($0)" }))
            }
        }

        /// The broker's answer to a publication. Confirmed: recorded. Refused
        /// (a nack while a quorum queue elects a leader, a queue being
        /// re-declared): published again with backoff; after five tries the
        /// task and its job fail with the reason.
        private mutating func published(_ jobID: String, _ taskID: TaskID, _ attempt: Int, tries: Int, error: String?)
            async
        {
            guard var job = try? await load(jobID), !job.status.isTerminal, let task = job.task(taskID),
                task.attempt == attempt, task.state == .queued || task.state == .running, !task.published
            else { return }
            guard let error else {
                job.markPublished(taskID, attempt: attempt)
                heard[taskID] = Date()
                await saveBestEffort(job)
                active[job.id] = job
                view.publishSnapshot(job)
                return
            }
            guard tries < 5 else {
                logger.error("giving up publishing a task", metadata: ["task": "\(taskID)", "error": "\(error)"])
                let actions = job.deadLettered(
                    taskID, attempt: attempt, reason: "could not be published: \(error)", now: Date())
                do { try await commit(&job, actions) } catch {
                    timers.schedule(.reload(job: jobID), at: Date().addingTimeInterval(5))
                }
                return
            }
            let delay = Backoff(initial: 1, maximum: 30).delay(retry: tries + 1)
            logger.warning(
                "publishing a task failed; retrying",
                metadata: ["task": "\(taskID)", "error": "\(error)", "in": "\(delay)s"])
            timers.schedule(
                .republish(job: jobID, task: taskID, attempt: attempt, tries: tries + 1),
                at: Date().addingTimeInterval(delay))
        }

        /// A queue's depth, or nil when the broker does not answer within
        /// two seconds (it is away): the loop never waits for the broker.
        private func depth(of queue: String) async -> Int? {
            let transport = self.transport
            return await firstAnswer(within: 2, else: nil) { answer in
                Task { answer(try? await transport.messageCount(queue: queue)) }
            }
        }

        /// After a publication the broker holds the task whatever happens to
        /// this write; if it fails, a restart republishes it (a duplicate the
        /// state machine drops), so the error is only logged. Awaited, so
        /// writes stay in order.
        private mutating func saveBestEffort(_ job: JobRecord) async {
            do { try await save(job) } catch {
                logger.error("cannot store job", metadata: ["job": "\(job.id)", "error": "\(error)"])
            }
        }
    }
}
