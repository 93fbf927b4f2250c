// Package layers reads the layers of an image once each, in order, for every evidence stage at once.
package layers
