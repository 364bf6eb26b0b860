// Generated from shared/spec/event-catalog.tsv; shipped inside the binary so `events types`
// works without any file beside it.
let eventCatalogTSV = #"""
type	category	fields	note
agent.registered	agent	agent.name, agent.address, agent.version	
agent.disconnected	agent	agent.name, last_seen	
agent.heartbeat_failed	agent	agent.name, consecutive_failures	
agent.updated	agent	agent.name, old_version, new_version	
agent.connected	agent	agent.name, agent.address	
agent.version_mismatch	agent	agent.name, agent_version, server_version	
agent.resource_high	agent	agent.name, resource, current, threshold	
task.started	task	task.task_name, task.agent_name, task.start_time	
task.completed	task	task.task_name, task.agent_name, task.exit_code, task.duration	
task.failed	task	task.task_name, task.agent_name, task.error, task.exit_code	
task.timeout	task	task.task_name, task.agent_name, task.timeout_duration	
task.retrying	task	task.task_name, task.attempt, task.max_retries	
task.cancelled	task	task.task_name, task.agent_name, task.cancelled_by	
workflow.started	workflow	workflow_name, workflow_id, task_count	
workflow.completed	workflow	workflow_name, workflow_id, duration	
workflow.failed	workflow	workflow_name, failed_tasks[], error	
workflow.paused	workflow	workflow_name, workflow_id, paused_by	
workflow.resumed	workflow	workflow_name, workflow_id, resumed_by	
workflow.cancelled	workflow	workflow_name, workflow_id, cancelled_by	
system.startup	system	version, start_time	
system.shutdown	system	reason, uptime	
system.error	system	component, error, severity	
system.warning	system	component, message, severity	
system.resource_high	system	resource, current, threshold	
system.disk_full	system	mount_point, usage_percent, available_bytes	
system.memory_low	system	total, available, usage_percent	
system.cpu_high	system	usage_percent, load_average	
schedule.triggered	schedule	schedule_name, schedule_id, workflow_name	
schedule.missed	schedule	schedule_name, expected_time, actual_time	
schedule.created	schedule	schedule_name, cron_expr, workflow_name	
schedule.deleted	schedule	schedule_name, deleted_by	
schedule.updated	schedule	schedule_name, changes	
schedule.enabled	schedule	schedule_name, enabled_by	
schedule.disabled	schedule	schedule_name, disabled_by	
state.created	state	state_key, namespace, value	
state.updated	state	state_key, old_value, new_value	
state.deleted	state	state_key, namespace	
state.corrupted	state	state_key, corruption_type	
state.locked	state	state_key, locked_by, lock_id	
state.unlocked	state	state_key, lock_id	
secret.created	secret	secret_name, namespace, created_by	
secret.accessed	secret	secret_name, accessed_by, access_time	
secret.deleted	secret	secret_name, deleted_by	
secret.updated	secret	secret_name, updated_by	
secret.rotation_needed	secret	secret_name, last_rotated, rotation_policy	
secret.expired	secret	secret_name, expired_at	
stack.deployed	stack	stack_name, provider, resources[]	
stack.destroyed	stack	stack_name, destroyed_by	
stack.updated	stack	stack_name, changes	
stack.drift_detected	stack	stack_name, drift_info, resources[]	
stack.failed	stack	stack_name, operation, error	
stack.snapshot_created	stack	data.snapshot{stack_id,version,created_by,description,created_at}	
stack.rolled_back	stack	data.rollback{stack_id,from_version,to_version,performed_by,timestamp}	
stack.rollback_failed	stack	data.rollback{stack_id,target_version,performed_by,error,timestamp}	
stack.locked	stack	data.lock{stack_id,lock_id,operation,who,duration,locked_at}	
stack.unlocked	stack	data.lock{stack_id,lock_id,unlocked_at}	
stack.tagged	stack	data.tag{stack_id,tag,added_at}	
stack.untagged	stack	data.tag{stack_id,tag,removed_at}	
resource.created	resource	data.resource{id,stack_id,type,name,module,state,created_at}	
resource.updated	resource	data.resource{id,stack_id,type,name,state,updated_at} + data.previous_state	
resource.deleted	resource	data.resource{id,stack_id,type,name}	
resource.failed	resource		
backup.started	backup	backup_id, backup_type, source	
backup.completed	backup	backup_id, size, duration, destination	
backup.failed	backup	backup_id, error, partial_data	
restore.started	backup	backup_id, destination	
restore.completed	backup	backup_id, duration	
restore.failed	backup	backup_id, error	
db.connected	db	database, connection_pool_size	
db.disconnected	db	database, reason	
db.query_slow	db	database, query, duration, threshold	
db.error	db	database, operation, error	
db.migration	db	database, version, migration_name	
network.down	network	interface, last_successful_ping	
network.up	network	interface, downtime_duration	
network.slow	network	interface, bandwidth, expected_bandwidth	
network.latency_high	network	remote_host, latency, threshold	
security.breach	security	user, action, resource, ip_address, severity	
security.unauthorized	security	user, resource, action, ip_address	
security.login_failed	security	user, ip_address, reason, attempt_count	
security.login_success	security	user, ip_address, session_id	
security.permission_denied	security	user, resource, required_permission	
file.created	file	path, size, mode, watcher	
file.modified	file	path, size, modification_time	
file.deleted	file	path, watcher	
file.renamed	file	old_path, new_path	
dir.created	file	path, watcher	
dir.deleted	file	path, watcher	
deploy.started	deploy	deploy_id, service, version, environment	
deploy.completed	deploy	deploy_id, service, version, duration	
deploy.failed	deploy	deploy_id, service, error, rollback_needed	
deploy.rollback	deploy	deploy_id, service, prev_version, reason	
health.check_passed	health	service, check_name, response_time	
health.check_failed	health	service, check_name, error, consecutive_failures	
health.degraded	health	service, metrics, threshold	
health.recovered	health	service, downtime_duration	
custom	custom	name, message, payload{}	
dir.changed	file	{path,old_file_count,new_file_count,watcher_id}	emitted by reference watchers/monitors
process.started	process	{process,watcher_id}	emitted by reference watchers/monitors
process.stopped	process	{process,watcher_id}	emitted by reference watchers/monitors
port.opened	port	{port,watcher_id}	emitted by reference watchers/monitors
port.closed	port	{port,watcher_id}	emitted by reference watchers/monitors
service.status_changed	service	{service,old_status,new_status,watcher_id}	emitted by reference watchers/monitors
log.pattern_matched	log	{path,pattern,line,watcher_id}	emitted by reference watchers/monitors
command.output_changed	command	{command,old_output,new_output,watcher_id}	emitted by reference watchers/monitors
cpu.high_usage	cpu	{cpu_percent,threshold,watcher_id}	emitted by reference watchers/monitors
cpu.low_usage	cpu	{cpu_percent,threshold,watcher_id}	emitted by reference watchers/monitors
memory.high_usage	memory	{memory_percent,threshold,watcher_id}	emitted by reference watchers/monitors
disk.high_usage	disk	{path,used_percent,threshold,watcher_id}	emitted by reference watchers/monitors
custom.triggered	custom	CheckFunc data + watcher_id	emitted by reference watchers/monitors
system.memory_high	system	{memory_used_percent,memory_used_bytes,memory_total_bytes}	emitted by reference watchers/monitors
agent.health_check	agent	{cpu_load,cpu_cores,memory_used_mb,disk_used_gb,uptime_seconds,hostname}	emitted by reference watchers/monitors
system.load_high	system		named in reference docs only
system.cpu_normal	system		named in reference docs only
system.memory_normal	system		named in reference docs only
process.crashed	process		named in reference docs only
port.latency_high	port		named in reference docs only
service.started	service		named in reference docs only
service.stopped	service		named in reference docs only
service.failed	service		named in reference docs only
service.restarted	service		named in reference docs only
file.changed	file		alias of file.modified
"""#
