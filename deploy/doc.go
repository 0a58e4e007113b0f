// Package deploy holds mamori's installation artifacts; its test checks them with mamori's own scanner.
package deploy
