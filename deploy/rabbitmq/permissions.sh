# The farm's broker users and what each may do (RabbitMQ permissions:
# regular expressions on exchange and queue names, for configure, write
# and read). Names are "<prefix>.<name>" (FarmTopology); any prefix works.
# Sourced by scripts/rabbitmq (local nodes) and deploy/rabbitmq/users.sh.
#
# meshfarm-submit (the coordinator) declares the topology (a queue with a
# dead-letter exchange needs write access to that exchange), publishes
# tasks and control messages, and consumes events and dead letters.
SUBMIT_CONFIGURE='^.+\.(tasks|events|dead|control|cpu|gpu|coordinator|dead-letter)$'
SUBMIT_WRITE='^.+\.(tasks|dead|control|cpu|gpu|coordinator|dead-letter)$'
SUBMIT_READ='^.+\.(tasks|events|dead|cpu|gpu|coordinator|dead-letter)$'
# meshfarm-worker consumes the task queues and publishes events; it
# declares and binds only its own control queue ("<prefix>.control.<name>").
# It can neither publish tasks nor read the coordinator's events.
WORKER_CONFIGURE='^.+\.control\..+$'
WORKER_WRITE='^.+\.(events|control\..+)$'
WORKER_READ='^.+\.(cpu|gpu|control|control\..+)$'
