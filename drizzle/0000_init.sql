CREATE TABLE `backups` (
	`repository` text NOT NULL,
	`id` text NOT NULL,
	`source` text NOT NULL,
	`engine` text NOT NULL,
	`kind` text NOT NULL,
	`parent` text,
	`started_at` text NOT NULL,
	`finished_at` text NOT NULL,
	`stored_size` integer NOT NULL,
	`raw_size` integer NOT NULL,
	`duration_ms` integer NOT NULL,
	`object_count` integer NOT NULL,
	`part_count` integer NOT NULL,
	`recorded_at` text NOT NULL,
	PRIMARY KEY(`repository`, `source`, `id`)
);
--> statement-breakpoint
CREATE INDEX `backups_source_idx` ON `backups` (`source`,`id`);--> statement-breakpoint
CREATE TABLE `repositories` (
	`location` text PRIMARY KEY NOT NULL,
	`first_seen_at` text NOT NULL,
	`last_scanned_at` text
);
