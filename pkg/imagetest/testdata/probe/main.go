// Command probe runs inside test images and reports what it can see, so tests can assert the sandbox
// a command test runs in: its network, user, capabilities, file system and time limit.
package main

import (
	"bufio"
	"fmt"
	"net"
	"os"
	"strconv"
	"strings"
	"time"
)

func main() {
	if len(os.Args) < 2 {
		fmt.Fprintln(os.Stderr, "usage: probe net|dial ADDR|sleep DURATION|exit CODE|id|write PATH|env KEY|caps")
		os.Exit(2)
	}
	arg := ""
	if len(os.Args) > 2 {
		arg = os.Args[2]
	}
	switch os.Args[1] {
	case "net":
		ifs, err := net.Interfaces()
		if err != nil {
			fmt.Println("error:", err)
			return
		}
		var names []string
		for _, i := range ifs {
			state := "down"
			if i.Flags&net.FlagUp != 0 {
				state = "up"
			}
			names = append(names, i.Name+"["+state+"]")
		}
		fmt.Println("interfaces:", strings.Join(names, ","))
	case "dial":
		c, err := net.DialTimeout("tcp", arg, 2*time.Second)
		if err != nil {
			fmt.Println("error:", err)
			return
		}
		c.Close()
		fmt.Println("connected")
	case "sleep":
		d, _ := time.ParseDuration(arg)
		fmt.Println("sleeping", d)
		time.Sleep(d)
		fmt.Println("woke up")
	case "exit":
		code, _ := strconv.Atoi(arg)
		fmt.Fprintln(os.Stderr, "exiting", code)
		os.Exit(code)
	case "id":
		groups, _ := os.Getgroups()
		fmt.Printf("uid=%d gid=%d groups=%v\n", os.Getuid(), os.Getgid(), groups)
	case "write":
		if err := os.WriteFile(arg, []byte("x"), 0o644); err != nil {
			fmt.Println("error:", err)
			return
		}
		fmt.Println("wrote", arg)
	case "env":
		fmt.Printf("%s=%s\n", arg, os.Getenv(arg))
	case "caps":
		f, err := os.Open("/proc/self/status")
		if err != nil {
			fmt.Println("error:", err)
			return
		}
		defer f.Close()
		sc := bufio.NewScanner(f)
		for sc.Scan() {
			if strings.HasPrefix(sc.Text(), "Cap") {
				fmt.Println(sc.Text())
			}
		}
	default:
		fmt.Fprintln(os.Stderr, "unknown probe", os.Args[1])
		os.Exit(2)
	}
}
