package host

// SSGRules maps the ingot rules that the SCAP Security Guide for Debian 11 (ssg-debian 0.1.65) also
// checks to its rule IDs (without the xccdf_org.ssgproject.content_rule_ prefix). A comparison counts
// the SSG verdict failed when any of them fails; notapplicable and unknown do not count as failing.
// The accuracy test and bench/host compare on these rules.
func SSGRules() map[string][]string {
	return map[string][]string{
		RuleSSHRootLogin:     {"sshd_disable_root_login"},
		RuleSSHEmptyPassword: {"sshd_disable_empty_passwords"},
		RuleSSHX11:           {"sshd_disable_x11_forwarding"},
		RuleSSHMaxAuthTries:  {"sshd_set_max_auth_tries"},
		RuleSysctlASLR:       {"sysctl_kernel_randomize_va_space"},
		RuleSysctlKptr:       {"sysctl_kernel_kptr_restrict"},
		RuleLegacyServers:    {"package_telnetd_removed", "package_inetutils-telnetd_removed", "package_telnetd-ssl_removed", "package_nis_removed"},
		RuleUID0:             {"accounts_no_uid_except_zero"},
		RuleEmptyPassword:    {"no_empty_passwords_etc_shadow"},
		RuleAccountFilePerms: {"file_permissions_etc_shadow", "file_owner_etc_shadow", "file_groupowner_etc_shadow", "file_permissions_etc_gshadow", "file_permissions_etc_passwd", "file_permissions_etc_group", "file_owner_etc_passwd", "file_owner_etc_group"},
		RuleMountDevShm:      {"mount_option_dev_shm_nodev", "mount_option_dev_shm_nosuid"},
		RuleMountTmp:         {"partition_for_tmp"},
		RuleAuditd:           {"package_audit_installed", "service_auditd_enabled"},
		RuleTimeSync:         {"package_chrony_installed"},
	}
}
