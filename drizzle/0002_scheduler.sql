CREATE TABLE `schedule_locks` (
	`name` text PRIMARY KEY NOT NULL,
	`owner` text NOT NULL,
	`slot` text,
	`acquired_at` text NOT NULL,
	`heartbeat_at` text NOT NULL
);
--> statement-breakpoint
CREATE TABLE `schedule_runs` (
	`id` integer PRIMARY KEY AUTOINCREMENT NOT NULL,
	`schedule` text NOT NULL,
	`task` text NOT NULL,
	`source` text NOT NULL,
	`slot` text,
	`trigger` text NOT NULL,
	`owner` text NOT NULL,
	`started_at` text NOT NULL,
	`finished_at` text,
	`outcome` text NOT NULL,
	`attempts` integer NOT NULL,
	`backup_id` text,
	`error_code` text,
	`error_message` text,
	`duration_ms` integer,
	`stored_size` integer,
	`note` text
);
--> statement-breakpoint
CREATE INDEX `schedule_runs_schedule_idx` ON `schedule_runs` (`schedule`,`id`);--> statement-breakpoint
CREATE INDEX `schedule_runs_owner_idx` ON `schedule_runs` (`owner`,`outcome`);--> statement-breakpoint
CREATE TABLE `schedule_state` (
	`name` text PRIMARY KEY NOT NULL,
	`enabled` integer,
	`last_slot` text NOT NULL,
	`last_run_at` text,
	`last_outcome` text,
	`last_success_at` text,
	`consecutive_failures` integer DEFAULT 0 NOT NULL
);
--> statement-breakpoint
CREATE TABLE `scheduler_daemons` (
	`owner` text PRIMARY KEY NOT NULL,
	`host` text NOT NULL,
	`pid` integer NOT NULL,
	`started_at` text NOT NULL,
	`heartbeat_at` text NOT NULL
);
--> statement-breakpoint
CREATE TABLE `schedules` (
	`name` text PRIMARY KEY NOT NULL,
	`cron` text NOT NULL,
	`task` text NOT NULL,
	`source` text NOT NULL,
	`kind` text,
	`timezone` text,
	`catch_up` text,
	`created_at` text NOT NULL
);
